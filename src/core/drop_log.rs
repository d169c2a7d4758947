//! Rate limiting of drop warnings: one misconfigured peer (a wrong password, a TTL
//! decremented by a router) sends one advert per second, and each would otherwise be a
//! warning in the journal.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::packet::DropReason;

/// How long a warning about dropped packets of one kind from one source
/// silences the next ones (a misconfigured peer sends one per second).
pub const DROP_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Outcome of [`DropLogLimiter::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropLog {
    /// Log at warn level; `suppressed` drops of this kind were not warned about since the last warning.
    Warn { suppressed: u64 },
    /// Within the quiet interval: log at debug level only.
    Quiet,
}

/// At most one warning per (reason, source) per interval, so one misconfigured
/// peer cannot flood the journal; the next warning says how many were skipped.
#[derive(Debug)]
pub struct DropLogLimiter {
    interval: Duration,
    last: HashMap<(DropReason, IpAddr), (Instant, u64)>,
}

impl DropLogLimiter {
    /// Bound on remembered sources (spoofed sources must not grow memory).
    pub const MAX_TRACKED: usize = 1024;

    pub fn new(interval: Duration) -> Self {
        DropLogLimiter {
            interval,
            last: HashMap::new(),
        }
    }

    pub fn check(&mut self, now: Instant, reason: DropReason, source: IpAddr) -> DropLog {
        if let Some((warned_at, suppressed)) = self.last.get_mut(&(reason, source)) {
            if now.saturating_duration_since(*warned_at) < self.interval {
                *suppressed += 1;
                return DropLog::Quiet;
            }
            let skipped = *suppressed;
            *warned_at = now;
            *suppressed = 0;
            return DropLog::Warn {
                suppressed: skipped,
            };
        }
        if self.last.len() >= Self::MAX_TRACKED {
            let interval = self.interval;
            self.last
                .retain(|_, (warned_at, _)| now.saturating_duration_since(*warned_at) < interval);
            if self.last.len() >= Self::MAX_TRACKED {
                return DropLog::Quiet;
            }
        }
        self.last.insert((reason, source), (now, 0));
        DropLog::Warn { suppressed: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_warnings_are_rate_limited_per_reason_and_source() {
        let mut limiter = DropLogLimiter::new(Duration::from_secs(10));
        let start = Instant::now();
        let peer: IpAddr = "192.0.2.42".parse().unwrap();
        let other: IpAddr = "192.0.2.43".parse().unwrap();
        assert_eq!(
            limiter.check(start, DropReason::AuthMismatch, peer),
            DropLog::Warn { suppressed: 0 }
        );
        for second in 1..=9 {
            let now = start + Duration::from_secs(second);
            assert_eq!(
                limiter.check(now, DropReason::AuthMismatch, peer),
                DropLog::Quiet
            );
        }
        // Another reason or another source is its own stream.
        assert_eq!(
            limiter.check(start, DropReason::BadTtl, peer),
            DropLog::Warn { suppressed: 0 }
        );
        assert_eq!(
            limiter.check(start, DropReason::AuthMismatch, other),
            DropLog::Warn { suppressed: 0 }
        );
        let later = start + Duration::from_secs(10);
        assert_eq!(
            limiter.check(later, DropReason::AuthMismatch, peer),
            DropLog::Warn { suppressed: 9 }
        );
        assert_eq!(
            limiter.check(later, DropReason::AuthMismatch, peer),
            DropLog::Quiet
        );
    }

    #[test]
    fn drop_limiter_memory_is_bounded() {
        let mut limiter = DropLogLimiter::new(Duration::from_secs(10));
        let now = Instant::now();
        for n in 0..(DropLogLimiter::MAX_TRACKED as u32 + 10) {
            let source = IpAddr::V4(std::net::Ipv4Addr::from(0xc000_0200 + n));
            let _ = limiter.check(now, DropReason::BadTtl, source);
        }
        assert_eq!(limiter.last.len(), DropLogLimiter::MAX_TRACKED);
        // Once the old entries have aged out, new sources are warned about again.
        let later = now + Duration::from_secs(11);
        let fresh = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(
            limiter.check(later, DropReason::BadTtl, fresh),
            DropLog::Warn { suppressed: 0 }
        );
        assert_eq!(limiter.last.len(), 1);
    }
}
