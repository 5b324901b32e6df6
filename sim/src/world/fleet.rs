//! A fleet: N gateways sharing one key, each a client with its own strategy state, each seeing
//! only the responses to its own requests.
//!
//! This is where a limiter that trusts `remaining` for the whole key overdraws: every gateway
//! reads the same `remaining` and may spend all of it. The engine knows one strategy; the fleet
//! is that strategy, routing each arrival and response to the gateway its request is assigned
//! to, and each wake-up to the gateway that scheduled it (the gateway's index rides in the
//! token's high bits, set by [`Sim::wake_at`] while the gateway runs).

use crate::engine::{GATEWAY_SHIFT, Reply, Sim, Strategy};

/// N clients behind one key.
pub struct Fleet {
    gateways: Vec<Box<dyn Strategy>>,
    assignment: Vec<u32>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("gateways", &self.gateways.len())
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// A fleet of `gateways`; request `i` goes to gateway `assignment[i]` (0 when missing).
    pub fn new(gateways: Vec<Box<dyn Strategy>>, assignment: Vec<u32>) -> Self {
        Self {
            gateways,
            assignment,
        }
    }

    fn with_gateway(
        &mut self,
        sim: &mut Sim<'_>,
        gateway: u64,
        act: impl FnOnce(&mut dyn Strategy, &mut Sim<'_>),
    ) {
        let Some(strategy) = usize::try_from(gateway)
            .ok()
            .and_then(|index| self.gateways.get_mut(index))
        else {
            return;
        };
        sim.set_gateway(gateway);
        act(strategy.as_mut(), sim);
        sim.set_gateway(0);
    }

    fn gateway_of(&self, request: u32) -> u64 {
        u64::from(self.assignment.get(request as usize).copied().unwrap_or(0))
    }
}

impl Strategy for Fleet {
    fn on_arrival(&mut self, sim: &mut Sim<'_>, request: u32) {
        let gateway = self.gateway_of(request);
        self.with_gateway(sim, gateway, |strategy, sim| {
            strategy.on_arrival(sim, request);
        });
    }

    fn on_wake(&mut self, sim: &mut Sim<'_>, token: u64) {
        let gateway = token >> GATEWAY_SHIFT;
        let token = token & ((1 << GATEWAY_SHIFT) - 1);
        self.with_gateway(sim, gateway, |strategy, sim| strategy.on_wake(sim, token));
    }

    fn on_response(&mut self, sim: &mut Sim<'_>, response: &Reply) {
        let gateway = self.gateway_of(response.request);
        self.with_gateway(sim, gateway, |strategy, sim| {
            strategy.on_response(sim, response);
        });
    }
}
