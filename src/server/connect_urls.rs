//! The client INFO follows the cluster (nats-server 2.9.10
//! `updateServerINFOAndSendINFOToClients`, `sendAsyncInfoToClients`): when a route
//! brings or takes client URLs, each worker puts the new `connect_urls` in its INFO
//! template and sends an async INFO to clients that sent `protocol:1` and have had
//! their first PONG. A client still before its first PONG gets the INFO right after
//! that PONG if the URLs changed since it connected. Checked once per cycle (one atomic
//! load), never per message.
use super::core::Core;

impl Core {
    /// Puts the cluster's current client URLs into the INFO template.
    pub(super) fn load_connect_urls(&mut self) {
        let Some(cl) = self.shared.cluster.as_ref() else { return };
        let (gen, urls) = cl.client_urls();
        self.urls_gen = gen;
        self.info.connect_urls = urls;
    }

    /// Run once per cycle: when the URLs changed, update the template and tell the
    /// clients that take async INFO.
    pub fn refresh_connect_urls(&mut self) {
        let Some(cl) = self.shared.cluster.as_ref() else { return };
        if cl.urls_gen() == self.urls_gen {
            return;
        }
        self.load_connect_urls();
        for slot in 0..self.conns.len() as u32 {
            let wants = self.conn(slot).is_some_and(|c| {
                c.route.is_none() && c.closing.is_none() && c.first_pong && c.flags.protocol >= 1
            });
            if wants {
                self.send_async_info(slot);
            }
        }
    }

    /// The client's first PONG: an INFO first when the URLs changed since it connected.
    pub(super) fn first_pong(&mut self, slot: u32) {
        let gen = self.urls_gen;
        let Some(c) = self.conn_mut(slot) else { return };
        if c.first_pong {
            return;
        }
        c.first_pong = true;
        if c.flags.protocol >= 1 && c.urls_gen != gen {
            self.send_async_info(slot);
        }
    }

    fn send_async_info(&mut self, slot: u32) {
        // (An INFO line is a few hundred bytes plus the URLs.)
        let need = 512 + self.info.connect_urls.iter().map(|u| u.len() + 3).sum::<usize>();
        if !self.reserve_out(slot, need) {
            return;
        }
        let Some(c) = self.conns[slot as usize].as_mut() else { return };
        super::info::write_info(&mut c.out.buf, &self.info, c.cid, c.addr, c.nonce.as_deref());
        self.mark_dirty(slot);
    }
}
