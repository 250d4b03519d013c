//! The client URLs of the cluster, for the client INFO `connect_urls` (nats-server
//! 2.9.10 `updateServerINFOAndSendINFOToClients`): this server's own URLs first, then
//! each URL a registered route announced, counted per route so a URL two peers
//! announce stays until both are gone. Sans-IO.

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClientUrls {
    own: Vec<String>,
    /// Peer URLs in the order they first came, with how many routes announce them.
    peers: Vec<(String, u32)>,
    /// nats-server sends no `connect_urls` until the first route brought some.
    shown: bool,
}

impl ClientUrls {
    pub fn new(own: Vec<String>) -> ClientUrls {
        ClientUrls { own, peers: Vec::new(), shown: false }
    }

    /// A route announced `urls`. Returns whether the list clients see changed.
    pub fn add(&mut self, urls: &[String]) -> bool {
        let mut changed = false;
        for u in urls {
            match self.peers.iter_mut().find(|(p, _)| p == u) {
                Some((_, n)) => *n += 1,
                None => {
                    self.peers.push((u.clone(), 1));
                    changed = true;
                }
            }
        }
        if changed {
            self.shown = true;
        }
        changed
    }

    /// A route that announced `urls` went (or entered lame duck mode).
    pub fn remove(&mut self, urls: &[String]) -> bool {
        let mut changed = false;
        for u in urls {
            if let Some(i) = self.peers.iter().position(|(p, _)| p == u) {
                self.peers[i].1 -= 1;
                if self.peers[i].1 == 0 {
                    self.peers.remove(i);
                    changed = true;
                }
            }
        }
        changed
    }

    /// The other servers' URLs, without our own (what a lame-duck server tells its
    /// clients, nats-server `sendLDMToClients`).
    pub fn peers(&self) -> Vec<String> {
        self.peers.iter().filter(|(u, _)| !self.own.contains(u)).map(|(u, _)| u.clone()).collect()
    }

    /// What the client INFO carries: empty until a route first brought URLs, then
    /// our own followed by the peers' (own ones a peer also lists appear once).
    pub fn list(&self) -> Vec<String> {
        if !self.shown {
            return Vec::new();
        }
        let mut v = self.own.clone();
        for (u, _) in &self.peers {
            if !v.contains(u) {
                v.push(u.clone());
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn own_first_counted_per_route_and_kept_after_the_last_route() {
        let mut u = ClientUrls::new(s(&["a:1"]));
        assert!(u.list().is_empty(), "nothing before a route");
        assert!(!u.add(&[]), "a peer with no_advertise changes nothing");
        assert!(u.list().is_empty());
        assert!(u.add(&s(&["b:1"])));
        assert!(u.add(&s(&["b:1", "c:1"])));
        assert_eq!(u.list(), s(&["a:1", "b:1", "c:1"]));
        assert_eq!(u.peers(), s(&["b:1", "c:1"]));
        assert!(!u.remove(&s(&["b:1"])), "still announced by the other route");
        assert!(u.remove(&s(&["b:1", "c:1"])));
        assert_eq!(u.list(), s(&["a:1"]), "own URL stays once shown, as nats-server");
        assert!(!u.remove(&s(&["zz:1"])));
    }
}
