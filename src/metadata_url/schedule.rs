//! When a metadata URL is fetched again (pure): `refreshInterval`, brought forward by the
//! document's own `validUntil` and `cacheDuration` (SAML metadata, OASIS
//! saml-metadata-2.0-os §2.3.1: a consumer should refresh before `validUntil` and after at
//! most `cacheDuration`).

use std::time::Duration;

use jiff::{SignedDuration, Span, Timestamp};

/// `refreshInterval` when unset.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// The shortest `refreshInterval` (also the floor of every computed refresh).
pub const MIN_REFRESH: Duration = Duration::from_secs(10);

/// Parses `refreshInterval` (a Go duration such as `24h`, `1h30m`, `90s`; jiff also reads
/// ISO 8601 `PT24H`). `None`: the default. Below the minimum is an error naming it.
pub fn refresh_interval(value: Option<&str>) -> Result<Duration, String> {
    let Some(value) = value else {
        return Ok(DEFAULT_REFRESH);
    };
    let parsed: SignedDuration = value.trim().parse().map_err(|e| {
        format!(
            "metadata.refreshInterval {value:?} is not a duration such as 24h, 1h30m or 10s ({e})"
        )
    })?;
    let d = Duration::try_from(parsed)
        .map_err(|_| format!("metadata.refreshInterval {value:?} is negative"))?;
    if d < MIN_REFRESH {
        return Err(format!(
            "metadata.refreshInterval {value:?} is below the minimum of 10s"
        ));
    }
    Ok(d)
}

/// What a document says about its own lifetime, as written in the XML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentLifetime {
    /// Earliest `validUntil` (xs:dateTime).
    pub valid_until: Option<String>,
    /// `cacheDuration` (xs:duration, e.g. `PT1H`).
    pub cache_duration: Option<String>,
}

/// When to fetch again after a successful fetch at `fetched`: `interval` after it, or earlier
/// when the document's `cacheDuration` runs out, or before its `validUntil` (a tenth of the
/// time left, at most an hour, ahead of it, so that a refresh that fails can be retried
/// while the document is still valid). Never sooner than [`MIN_REFRESH`].
pub fn next_refresh(
    fetched: Timestamp,
    interval: Duration,
    lifetime: &DocumentLifetime,
) -> Timestamp {
    let mut wait = interval;
    if let Some(cache) = lifetime
        .cache_duration
        .as_deref()
        .and_then(|c| span_from(fetched, c))
    {
        wait = wait.min(cache);
    }
    if let Some(until) = lifetime
        .valid_until
        .as_deref()
        .and_then(crate::metadata::parse_date_time)
    {
        let left = until.duration_since(fetched);
        if let Ok(left) = Duration::try_from(left) {
            let margin = (left / 10).min(Duration::from_secs(3600));
            wait = wait.min(left - margin);
        } else {
            wait = MIN_REFRESH;
        }
    }
    let wait = wait.max(MIN_REFRESH);
    fetched
        .checked_add(SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

/// An xs:duration from `at`, as a std duration; `None` when unparsable or negative.
fn span_from(at: Timestamp, value: &str) -> Option<Duration> {
    let span: Span = value.trim().parse().ok()?;
    let zoned = at.to_zoned(jiff::tz::TimeZone::UTC);
    let end = zoned.checked_add(span).ok()?;
    Duration::try_from(end.timestamp().duration_since(at)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn refresh_interval_reads_go_durations_and_enforces_the_minimum() {
        assert_eq!(refresh_interval(None).unwrap(), DEFAULT_REFRESH);
        assert_eq!(
            refresh_interval(Some("24h")).unwrap(),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            refresh_interval(Some("1h30m")).unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            refresh_interval(Some("10s")).unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(
            refresh_interval(Some("1.5h")).unwrap(),
            Duration::from_secs(5400)
        );
        let err = refresh_interval(Some("5s")).unwrap_err();
        assert!(err.contains("minimum of 10s"), "{err}");
        assert!(refresh_interval(Some("soon")).is_err());
    }

    #[test]
    fn the_interval_applies_when_the_document_says_nothing() {
        let t = at("2026-11-26T12:00:00Z");
        let next = next_refresh(t, Duration::from_secs(3600), &DocumentLifetime::default());
        assert_eq!(next, at("2026-11-26T13:00:00Z"));
    }

    #[test]
    fn cache_duration_and_valid_until_bring_the_refresh_forward() {
        let t = at("2026-11-26T12:00:00Z");
        let day = Duration::from_secs(86_400);
        let cache = DocumentLifetime {
            cache_duration: Some("PT2H".into()),
            valid_until: None,
        };
        assert_eq!(next_refresh(t, day, &cache), at("2026-11-26T14:00:00Z"));
        // Five hours left: a tenth of them (30 minutes) before the document expires.
        let until = DocumentLifetime {
            valid_until: Some("2026-11-26T17:00:00Z".into()),
            cache_duration: None,
        };
        assert_eq!(next_refresh(t, day, &until), at("2026-11-26T16:30:00Z"));
        // Twenty hours left: an hour (the cap) ahead.
        let later = DocumentLifetime {
            valid_until: Some("2026-11-27T08:00:00Z".into()),
            cache_duration: None,
        };
        assert_eq!(next_refresh(t, day, &later), at("2026-11-27T07:00:00Z"));
        // Ten minutes left: a tenth of them (one minute) ahead.
        let soon = DocumentLifetime {
            valid_until: Some("2026-11-26T12:10:00Z".into()),
            cache_duration: None,
        };
        assert_eq!(next_refresh(t, day, &soon), at("2026-11-26T12:09:00Z"));
        // Already expired: as soon as allowed.
        let past = DocumentLifetime {
            valid_until: Some("2026-11-25T00:00:00Z".into()),
            cache_duration: None,
        };
        assert_eq!(next_refresh(t, day, &past), at("2026-11-26T12:00:10Z"));
        // A far validUntil does not postpone the interval.
        let far = DocumentLifetime {
            valid_until: Some("2030-01-01T00:00:00Z".into()),
            cache_duration: Some("P30D".into()),
        };
        assert_eq!(next_refresh(t, day, &far), at("2026-11-27T12:00:00Z"));
    }
}
