use super::*;
use std::path::Path;

fn p(src: &str) -> Node {
    match parse_str(src, Path::new("t.conf")) {
        Ok(n) => n,
        Err(e) => panic!("{e}"),
    }
}
fn perr(src: &str) -> String {
    match parse_str(src, Path::new("t.conf")) {
        Ok(n) => panic!("expected an error, got {n:?}"),
        Err(e) => e.to_string(),
    }
}
fn int(n: &Node, k: &str) -> i64 {
    n.get(k)
        .and_then(Node::as_int)
        .unwrap_or_else(|| panic!("no int {k}"))
}
fn string(n: &Node, k: &str) -> String {
    n.get(k)
        .and_then(Node::as_str)
        .unwrap_or_else(|| panic!("no string {k}"))
        .to_string()
}

#[test]
fn separators_and_terminators() {
    let n = p("a = 1\nb: 2\nc 3\nd: 4, e: 5; f = 6\n");
    for (k, v) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5), ("f", 6)] {
        assert_eq!(int(&n, k), v);
    }
    let keys: Vec<_> = n.entries().iter().map(|(k, _)| k.name.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c", "d", "e", "f"]);
}

#[test]
fn comments_and_top_level_braces() {
    let n = p("# hash\n{\n  // slash\n  a: 1 # trailing\n  b: \"x\" // trailing\n}\n");
    assert_eq!(int(&n, "a"), 1);
    assert_eq!(string(&n, "b"), "x");
}

#[test]
fn strings() {
    let n = p("a: \"t\\tn\\nr\\rq\\\"b\\\\x\\x41\"\nb: 'single \\n kept'\nc: bare-str\nd: srv-$X\ne: \"with # hash\"\n\"quoted key\": 1\n'sq key' = 2\n");
    assert_eq!(string(&n, "a"), "t\tn\nr\rq\"b\\xA");
    assert_eq!(string(&p("u: \"\\xc3\\xa9\"\n"), "u"), "é");
    assert_eq!(string(&n, "b"), "single \\n kept");
    assert_eq!(string(&n, "c"), "bare-str");
    assert_eq!(string(&n, "d"), "srv-$X");
    assert_eq!(string(&n, "e"), "with # hash");
    assert_eq!(int(&n, "quoted key"), 1);
    assert_eq!(int(&n, "sq key"), 2);
}

#[test]
fn numbers_and_sizes() {
    let n = p("a: 2k\nb: 64KB\nc: 1G\nd: 1gb\ne: 3mb\nf: 3M\ng: 1Ki\nh: 2MiB\ni: -5\nj: 1.5\nk: 1t\nl: 1tb\nm: 1p\nn: 1e\no: 1eb\np: 127.0.0.1\nq: 5s\nr: 500ms\n");
    assert_eq!(int(&n, "a"), 2000);
    assert_eq!(int(&n, "b"), 65536);
    assert_eq!(int(&n, "c"), 1_000_000_000);
    assert_eq!(int(&n, "d"), 1 << 30);
    assert_eq!(int(&n, "e"), 3 << 20);
    assert_eq!(int(&n, "f"), 3_000_000);
    assert_eq!(int(&n, "g"), 1024);
    assert_eq!(int(&n, "h"), 2 << 20);
    assert_eq!(int(&n, "i"), -5);
    assert_eq!(n.get("j").and_then(Node::as_float), Some(1.5));
    assert_eq!(int(&n, "k"), 1_000_000_000_000);
    assert_eq!(int(&n, "l"), 1 << 40);
    assert_eq!(int(&n, "m"), 1_000_000_000_000_000);
    assert_eq!(int(&n, "n"), 1_000_000_000_000_000_000);
    assert!(perr("a: 8eb").contains("out of the range"));
    assert!(perr("a: 99999999999999999999").contains("out of the range"));
    assert_eq!(string(&n, "p"), "127.0.0.1");
    assert_eq!(string(&n, "q"), "5s");
    assert_eq!(string(&n, "r"), "500ms");
}

#[test]
fn booleans() {
    let n = p("a: true\nb: FALSE\nc: yes\nd: no\ne: on\nf: off\n");
    for (k, v) in [
        ("a", true),
        ("b", false),
        ("c", true),
        ("d", false),
        ("e", true),
        ("f", false),
    ] {
        assert_eq!(n.get(k).and_then(Node::as_bool), Some(v), "{k}");
    }
}

#[test]
fn arrays_and_maps() {
    let n = p("arr: [1, \"two\", 3\n  4 # c\n  {x: 1}]\nm {\n  a: 1\n  nested { b = [true] }\n}\nempty: {}\nea: []\n");
    let arr = n.get("arr").and_then(Node::as_array).unwrap();
    assert_eq!(arr.len(), 5);
    assert_eq!(arr[0].as_int(), Some(1));
    assert_eq!(arr[1].as_str(), Some("two"));
    assert_eq!(arr[3].as_int(), Some(4));
    assert_eq!(arr[4].get("x").and_then(Node::as_int), Some(1));
    let m = n.get("m").unwrap();
    assert_eq!(int(m, "a"), 1);
    let b = m
        .get("nested")
        .and_then(|x| x.get("b"))
        .and_then(Node::as_array)
        .unwrap();
    assert_eq!(b[0].as_bool(), Some(true));
    assert_eq!(
        n.get("empty").and_then(Node::as_map).map(<[_]>::len),
        Some(0)
    );
    assert_eq!(
        n.get("ea").and_then(Node::as_array).map(<[_]>::len),
        Some(0)
    );
}

#[test]
fn block_string_and_datetime() {
    let n = p("text (\n  hello\n  world\n)\nwhen: 2016-05-04T18:53:41Z\n");
    assert_eq!(string(&n, "text"), "\n  hello\n  world");
    assert_eq!(
        n.get("when").map(|x| x.value.clone()),
        Some(Value::DateTime("2016-05-04T18:53:41Z".into()))
    );
}

#[test]
fn positions_are_one_based() {
    let n = p("a: 1\nm {\n  b: \"x\"\n}\n");
    let (k, v) = &n.entries()[1];
    assert_eq!((k.pos.line, k.pos.col), (2, 1));
    let (k, v2) = &v.entries()[0];
    assert_eq!((k.pos.line, k.pos.col), (3, 3));
    assert_eq!((v2.pos.line, v2.pos.col), (3, 6));
    assert_eq!(v2.pos.to_string(), "t.conf:3:6");
}

#[test]
fn syntax_errors_have_file_line_col() {
    assert!(
        perr("a: 1\nb: [1, 2\n").starts_with("t.conf:3:"),
        "{}",
        perr("a: 1\nb: [1, 2\n")
    );
    assert!(perr("a: 1 2\n").starts_with("t.conf:1:6:"));
    assert!(perr("a: \"x\\q\"").contains("Invalid escape"));
    assert!(perr("a: {b: 1\n").contains("EOF"));
    assert!(perr("a: \"open").contains("EOF"));
    assert!(perr("a = \n").contains("new line"));
    assert!(perr("a: 2016-05-04T18").contains("ISO8601"));
}

#[test]
fn variables() {
    let n = p("X = 4222\nport: $X\nm { Y: \"in\", v: $Y, w: $X }\n");
    assert_eq!(int(&n, "port"), 4222);
    assert!(n.entries()[0].0.used_as_variable);
    assert!(!n.entries()[1].0.used_as_variable);
    let m = n.get("m").unwrap();
    assert_eq!(string(m, "v"), "in");
    assert_eq!(int(m, "w"), 4222);
    // Innermost map wins.
    let n = p("X = 1\nm { X = 2, v = $X }\n");
    assert_eq!(int(n.get("m").unwrap(), "v"), 2);
    // Position of a resolved variable is where it is used.
    let n = p("X = 1\n\nport: $X\n");
    assert_eq!(n.get("port").unwrap().pos.line, 3);
}

#[test]
fn variables_from_environment() {
    std::env::set_var("NATRIX_CFG_TEST_PORT", "4333");
    std::env::set_var("NATRIX_CFG_TEST_STR", "hello");
    let n = p("port: $NATRIX_CFG_TEST_PORT\ns: $NATRIX_CFG_TEST_STR\n");
    assert_eq!(int(&n, "port"), 4333);
    assert_eq!(string(&n, "s"), "hello");
    std::env::set_var("NATRIX_CFG_TEST_LOOP", "$NATRIX_CFG_TEST_LOOP");
    assert!(perr("a: $NATRIX_CFG_TEST_LOOP").contains("NATRIX_CFG_TEST_LOOP"));
}

#[test]
fn missing_variable_is_an_error() {
    let e = perr("a: 1\nport: $NATRIX_CFG_SURELY_UNSET\n");
    assert!(
        e.ends_with("variable reference for 'NATRIX_CFG_SURELY_UNSET' on line 2 can not be found"),
        "{e}"
    );
    assert!(e.starts_with("t.conf:2:7:"), "{e}");
}

#[test]
fn bcrypt_hash_is_not_a_variable() {
    let n = p("pass: $2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS\n");
    assert_eq!(
        string(&n, "pass"),
        "$2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS"
    );
}

#[test]
fn duplicate_keys_last_wins() {
    let n = p("a: 1\na: 2\n");
    assert_eq!(n.entries().len(), 1);
    assert_eq!(int(&n, "a"), 2);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("natrix-cfg-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("sub")).unwrap();
    d
}

#[test]
fn includes_are_relative_and_merged() {
    let d = temp_dir("inc");
    std::fs::write(
        d.join("main.conf"),
        "port: 1\ninclude sub/a.conf\nm {\n  include 'sub/b.conf'\n}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("sub/a.conf"),
        "max_payload: 2k\ninclude \"c.conf\"\n",
    )
    .unwrap();
    std::fs::write(d.join("sub/b.conf"), "inner: yes\n").unwrap();
    std::fs::write(d.join("sub/c.conf"), "debug: true\n").unwrap();
    let n = parse_file(&d.join("main.conf")).unwrap();
    assert_eq!(int(&n, "port"), 1);
    assert_eq!(int(&n, "max_payload"), 2000);
    assert_eq!(n.get("debug").and_then(Node::as_bool), Some(true));
    assert_eq!(
        n.get("m")
            .and_then(|m| m.get("inner"))
            .and_then(Node::as_bool),
        Some(true)
    );
    // Positions of included values name the included file.
    let pos = &n.get("max_payload").unwrap().pos;
    assert!(pos.file.ends_with("sub/a.conf") && pos.line == 1, "{pos}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn include_cycles_and_missing_files_are_errors() {
    let d = temp_dir("cycle");
    std::fs::write(d.join("a.conf"), "x: 1\ninclude b.conf\n").unwrap();
    std::fs::write(d.join("b.conf"), "include a.conf\n").unwrap();
    let e = parse_file(&d.join("a.conf")).unwrap_err().to_string();
    assert!(e.contains("include cycle"), "{e}");
    std::fs::write(d.join("c.conf"), "include nope.conf\n").unwrap();
    let e = parse_file(&d.join("c.conf")).unwrap_err().to_string();
    assert!(e.contains("c.conf:1:1") && e.contains("nope.conf"), "{e}");
    assert!(parse_file(&d.join("missing.conf")).is_err());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn lexer_never_panics_on_garbage() {
    for src in [
        "{",
        "}",
        "[",
        "]",
        "a",
        "a:",
        "a: [",
        "a: {",
        "\"",
        "'",
        "(",
        "a: (",
        "a: -",
        "a: 1.",
        "a: \\",
        "a: \"\\x4",
        "include",
        "include ",
        "$",
        "a: $",
        ":",
        "a b c",
        "a: 1k2",
        "/",
        "\u{0}",
        "é: ü",
    ] {
        let _ = parse_str(src, Path::new("t.conf"));
    }
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn parser_never_panics(s in "[a-z0-9 :=,;\\[\\]{}()\"'#/\\\\$.\n\t-]{0,64}") {
            let _ = parse_str(&s, Path::new("t.conf"));
        }
    }
}
