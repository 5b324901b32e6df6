//! The waiting line: one first-come-first-served queue per lane, in one fixed-size deque.
//!
//! Only the head of a lane's line asks the engine; the others sleep without a timer until they
//! become head. So when the engine names an instant, one waiter wakes at it, not all of them
//! (no thundering herd), and a newcomer never overtakes someone already waiting.
//!
//! A waiter is woken by being *notified*: a flag set under the lock and a waker taken out to be
//! called after the lock is released. The flag outlives a poll, so a notification that arrives
//! between two polls is never lost.

use core::task::Waker;

/// One waiting acquire.
#[derive(Debug)]
struct Waiter {
    ticket: u32,
    lane: u8,
    notified: bool,
    waker: Option<Waker>,
}

/// The lines of every lane, in arrival order.
#[derive(Debug)]
pub(crate) struct Queue<const WAITERS: usize> {
    waiters: heapless::Deque<Waiter, WAITERS>,
    next_ticket: u32,
}

impl<const WAITERS: usize> Queue<WAITERS> {
    pub(crate) const fn new() -> Self {
        Self {
            waiters: heapless::Deque::new(),
            next_ticket: 0,
        }
    }

    /// Whether anyone waits on `lane`.
    pub(crate) fn has_waiters(&self, lane: u8) -> bool {
        self.waiters.iter().any(|waiter| waiter.lane == lane)
    }

    /// Joins the back of `lane`'s line; `None` when the queue is full.
    pub(crate) fn join(&mut self, lane: u8) -> Option<u32> {
        let ticket = self.next_ticket;
        let waiter = Waiter {
            ticket,
            lane,
            notified: false,
            waker: None,
        };
        self.waiters.push_back(waiter).ok()?;
        self.next_ticket = ticket.wrapping_add(1);
        Some(ticket)
    }

    /// The ticket at the head of `lane`'s line.
    fn head(&self, lane: u8) -> Option<u32> {
        self.waiters
            .iter()
            .find(|waiter| waiter.lane == lane)
            .map(|waiter| waiter.ticket)
    }

    /// Whether `ticket` heads its lane's line.
    pub(crate) fn is_head(&self, ticket: u32) -> bool {
        self.waiters
            .iter()
            .find(|waiter| waiter.ticket == ticket)
            .is_some_and(|waiter| self.head(waiter.lane) == Some(ticket))
    }

    /// Leaves the line; if `ticket` was its lane's head, the new head is notified and its
    /// waker returned, to be woken once the lock is released.
    pub(crate) fn leave(&mut self, ticket: u32) -> Option<Waker> {
        let lane = self
            .waiters
            .iter()
            .find(|waiter| waiter.ticket == ticket)?
            .lane;
        let was_head = self.head(lane) == Some(ticket);
        self.waiters.retain(|waiter| waiter.ticket != ticket);
        if was_head {
            self.notify_head(lane)
        } else {
            None
        }
    }

    /// Notifies the head of `lane`'s line; its waker, if it left one.
    fn notify_head(&mut self, lane: u8) -> Option<Waker> {
        let head = self.waiters.iter_mut().find(|waiter| waiter.lane == lane)?;
        head.notified = true;
        head.waker.take()
    }

    /// Notifies the head of every lane (a permit came back: the engine may answer otherwise
    /// now); their wakers go into `wake`, at most one per lane (a head beyond `wake`'s
    /// capacity is still notified and finds it out at its next poll).
    pub(crate) fn notify_heads<const N: usize>(&mut self, wake: &mut heapless::Vec<Waker, N>) {
        let mut seen = [0u32; 8];
        for waiter in self.waiters.iter_mut() {
            let lane = usize::from(waiter.lane);
            let (word, bit) = (lane / 32, 1u32 << (lane % 32));
            let Some(seen) = seen.get_mut(word) else {
                continue;
            };
            if *seen & bit != 0 {
                continue;
            }
            *seen |= bit;
            waiter.notified = true;
            if let Some(waker) = waiter.waker.take() {
                // A full `wake` only happens with more lanes than it holds; see above.
                let _ = wake.push(waker);
            }
        }
    }

    /// Whether `ticket` was notified since it last looked (the flag is cleared); if not, `waker`
    /// is kept to wake it. A ticket no longer in line counts as notified.
    pub(crate) fn take_notified(&mut self, ticket: u32, waker: &Waker) -> bool {
        let Some(waiter) = self
            .waiters
            .iter_mut()
            .find(|waiter| waiter.ticket == ticket)
        else {
            return true;
        };
        if core::mem::take(&mut waiter.notified) {
            return true;
        }
        match &mut waiter.waker {
            Some(kept) if kept.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_per_lane_and_first_come_first_served() {
        let mut queue: Queue<4> = Queue::new();
        let a = queue.join(0).unwrap();
        let b = queue.join(1).unwrap();
        let c = queue.join(0).unwrap();
        assert!(queue.is_head(a) && queue.is_head(b) && !queue.is_head(c));
        assert!(queue.leave(a).is_none()); // c was notified, but left no waker yet
        assert!(queue.is_head(c));
        assert!(queue.take_notified(c, Waker::noop()));
        assert!(!queue.take_notified(c, Waker::noop()));
    }

    #[test]
    fn a_waiter_leaving_from_the_middle_notifies_nobody() {
        let mut queue: Queue<4> = Queue::new();
        let a = queue.join(0).unwrap();
        let b = queue.join(0).unwrap();
        let c = queue.join(0).unwrap();
        assert!(!queue.take_notified(c, Waker::noop()));
        assert!(queue.leave(b).is_none());
        assert!(!queue.take_notified(c, Waker::noop()));
        assert!(
            queue.leave(a).is_some(),
            "c left a waker and is the new head"
        );
        assert!(queue.take_notified(c, Waker::noop()));
    }

    #[test]
    fn a_full_queue_refuses_and_heads_of_every_lane_are_notified() {
        let mut queue: Queue<2> = Queue::new();
        let a = queue.join(3).unwrap();
        let b = queue.join(200).unwrap();
        assert_eq!(queue.join(3), None);
        assert!(!queue.take_notified(a, Waker::noop()));
        assert!(!queue.take_notified(b, Waker::noop()));
        let mut wake: heapless::Vec<Waker, 4> = heapless::Vec::new();
        queue.notify_heads(&mut wake);
        assert_eq!(wake.len(), 2);
        assert!(queue.take_notified(a, Waker::noop()) && queue.take_notified(b, Waker::noop()));
    }
}
