//! Open connections per client address. A client holding more than its
//! share (stalled uploads, idle keep-alives, a flood) has its next request
//! refused with 503 `service.too_many_connections` and that connection
//! closed, so one address cannot take every file descriptor of the process
//! while others wait. Stalled connections themselves end at the head and
//! body timeouts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Counts of open connections, by client address.
#[derive(Debug)]
pub struct Connections {
    open: Mutex<HashMap<IpAddr, usize>>,
    per_client: usize,
}

/// One open connection, kept with the connection's data: counted while it
/// lives, uncounted when the connection closes.
#[derive(Debug)]
pub struct Open {
    ip: IpAddr,
    connections: Arc<Connections>,
}

impl Connections {
    pub fn new(per_client: usize) -> Arc<Connections> {
        Arc::new(Connections {
            open: Mutex::new(HashMap::new()),
            per_client,
        })
    }

    /// Counts a new connection from `ip`.
    pub fn open(self: &Arc<Self>, ip: IpAddr) -> Open {
        *self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(ip)
            .or_default() += 1;
        Open {
            ip,
            connections: Arc::clone(self),
        }
    }
}

impl Open {
    /// Whether this client holds more connections than it may.
    pub fn over_limit(&self) -> bool {
        let open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.get(&self.ip).copied().unwrap_or(0) > self.connections.per_client
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_share_is_over_the_limit_until_one_closes() {
        let c = Connections::new(2);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 1].into();
        let a = c.open(ip);
        let b = c.open(ip);
        assert!(!b.over_limit());
        let third = c.open(ip);
        assert!(third.over_limit() && a.over_limit());
        assert!(!c.open(other).over_limit());
        drop(a);
        assert!(!third.over_limit());
        drop((b, third));
        assert!(
            c.open.lock().expect("lock").is_empty(),
            "nothing left counted"
        );
    }
}
