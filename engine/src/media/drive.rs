//! str0m's single-mutation rule, kept in one place for both ends of a call: after every input
//! or write, drain `poll_output` until it names a future deadline, and feed a deadline that is
//! already due back at once, in the same turn (not through a mailbox round trip).

use std::time::Instant;
use str0m::{Input, Output, Rtc, RtcError};

/// How often a due timeout may be fed back in one drain before yielding (guards against a
/// timer that keeps reporting itself due).
const MAX_DUE_REFEEDS: usize = 64;

/// One end of a call, as the drain loop sees it.
pub(crate) trait Drained<Io: ?Sized> {
    fn rtc(&mut self) -> &mut Rtc;

    /// A datagram to send or an event, as str0m produced it. By reference: an `Output` is
    /// several hundred bytes, and each move of one is a `memcpy` on every packet's path.
    fn output(&mut self, now: Instant, output: &Output, io: &mut Io) -> Result<(), RtcError>;

    /// str0m has nothing more to say before its next deadline: write whatever of ours is due by
    /// `now`. True when something was written, so the drain goes on.
    fn write_due(&mut self, _now: Instant, _io: &mut Io) -> Result<bool, RtcError> {
        Ok(false)
    }

    /// The deadline to report, given str0m's (ours may be earlier).
    fn deadline(&self, rtc_deadline: Instant) -> Instant {
        rtc_deadline
    }
}

/// Drains `end` after an input; returns its next deadline (never before `now`).
pub(crate) fn drain<Io: ?Sized, D: Drained<Io>>(
    end: &mut D,
    now: Instant,
    io: &mut Io,
) -> Result<Instant, RtcError> {
    let mut refeeds = 0;
    loop {
        // Matched in place: moving the `Output` out of its `Result` is a memcpy of several
        // hundred bytes on every poll.
        let polled = end.rtc().poll_output();
        match polled {
            Ok(Output::Timeout(at)) => {
                if end.write_due(now, io)? {
                    continue;
                }
                if at <= now && refeeds < MAX_DUE_REFEEDS {
                    refeeds += 1;
                    end.rtc().handle_input(Input::Timeout(now))?;
                    continue;
                }
                return Ok(end.deadline(at).max(now));
            }
            Ok(ref output) => end.output(now, output, io)?,
            Err(e) => return Err(e),
        }
    }
}
