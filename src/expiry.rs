//! Certificate expiry you can see (pure, clock injected): `daysRemaining`, the
//! `CertificateExpiring` condition, and the Warning Events sent once per notice threshold.
//!
//! What was noticed is kept in status, next to the certificate it concerns
//! (`noticedThresholdDays` of `signingCertificate` and of each `spCertificates` entry): it
//! survives restarts and leader changes with the resource itself, it is reset by construction
//! when the certificate changes (a new fingerprint carries nothing over), and it needs no
//! write to the resource's metadata (an annotation would wake every watcher of the resource
//! and need `patch` on it). A restored backup without status sends at most one notice again.

use jiff::Timestamp;

use crate::crd::SsoConnectionStatus;
use crate::status::{self, CERTIFICATE_EXPIRING, Reason};

/// Default of `--certificate-warning-days`.
pub const DEFAULT_WARNING_DAYS: i64 = 30;
/// Default of `--certificate-notice-days`.
pub const DEFAULT_NOTICE_DAYS: [i64; 4] = [90, 30, 7, 1];

const DAY_SECONDS: i64 = 86_400;

/// The operator's expiry settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpirySettings {
    /// `CertificateExpiring` turns True (`ExpiresSoon`) when fewer days than this remain.
    pub warning_days: i64,
    /// A Warning Event is sent when fewer days than each of these remain (once per threshold
    /// and certificate); expiry itself (threshold 0) is always noticed.
    pub notice_days: Vec<i64>,
}

impl Default for ExpirySettings {
    fn default() -> Self {
        ExpirySettings::new(DEFAULT_WARNING_DAYS, &DEFAULT_NOTICE_DAYS)
    }
}

impl ExpirySettings {
    /// Settings from the flags: negative values are ignored, thresholds sorted and deduplicated,
    /// 0 (expired) always included.
    pub fn new(warning_days: i64, notice_days: &[i64]) -> ExpirySettings {
        let mut notice: Vec<i64> = notice_days.iter().copied().filter(|d| *d >= 0).collect();
        notice.push(0);
        notice.sort_unstable();
        notice.dedup();
        ExpirySettings {
            warning_days: warning_days.max(0),
            notice_days: notice,
        }
    }
}

/// Whole days from `now` until `not_after`, rounded down: 0 during the last day, -1 once it
/// is past by up to a day.
pub fn days_remaining(not_after: Timestamp, now: Timestamp) -> i64 {
    (not_after.as_second() - now.as_second()).div_euclid(DAY_SECONDS)
}

/// The threshold whose notice is due, if any: the smallest threshold crossed (fewer days
/// remaining than it; 0 = expired), unless that one or a smaller one was already noticed.
/// Thresholds crossed together (a first sync 5 days before expiry) give one notice, for the
/// smallest.
pub fn notice_due(
    not_after: Timestamp,
    now: Timestamp,
    thresholds: &[i64],
    noticed: Option<i64>,
) -> Option<i64> {
    let days = days_remaining(not_after, now);
    let crossed = thresholds
        .iter()
        .copied()
        .filter(|t| days < *t || (*t == 0 && now > not_after))
        .min()?;
    match noticed {
        Some(n) if n <= crossed => None,
        _ => Some(crossed),
    }
}

/// Copies `noticedThresholdDays` from `old` to the certificates of `new` that are the same
/// certificates (same fingerprint, and for SP ones the same purpose); a new certificate keeps
/// none, so its notices start afresh.
pub fn carry_notices(old: &SsoConnectionStatus, new: &mut SsoConnectionStatus) {
    if let Some(c) = new.signing_certificate.as_mut() {
        c.noticed_threshold_days = old
            .signing_certificate
            .as_ref()
            .filter(|o| o.sha256_fingerprint == c.sha256_fingerprint)
            .and_then(|o| o.noticed_threshold_days);
    }
    for c in &mut new.sp_certificates {
        c.noticed_threshold_days = old
            .sp_certificates
            .iter()
            .find(|o| o.purpose == c.purpose && o.sha256_fingerprint == c.sha256_fingerprint)
            .and_then(|o| o.noticed_threshold_days);
    }
}

/// A Warning Event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Event reason: `CertificateExpiring` or `CertificateExpired`.
    pub reason: &'static str,
    /// Event note.
    pub note: String,
}

/// One certificate the connection depends on, as status reports it.
struct Watched {
    label: String,
    not_after: Timestamp,
    not_after_text: String,
}

/// Brings the expiry parts of `status` up to date at `now`: `daysRemaining` of every listed
/// certificate, `noticedThresholdDays` of the certificates in use, and the
/// `CertificateExpiring` condition for the earliest of them. Returns the notices to publish.
pub fn evaluate(
    status: &mut SsoConnectionStatus,
    now: Timestamp,
    settings: &ExpirySettings,
    generation: Option<i64>,
) -> Vec<Notice> {
    let mut notices = Vec::new();
    let mut watched = Vec::new();
    for c in &mut status.other_signing_certificates {
        if let Ok(t) = c.not_after.parse::<Timestamp>() {
            c.days_remaining = Some(days_remaining(t, now));
        }
    }
    let mut track =
        |label: String, not_after_text: &str, days: &mut Option<i64>, noticed: &mut Option<i64>| {
            let Ok(t) = not_after_text.parse::<Timestamp>() else {
                return;
            };
            *days = Some(days_remaining(t, now));
            if let Some(threshold) = notice_due(t, now, &settings.notice_days, *noticed) {
                *noticed = Some(threshold);
                notices.push(notice(&label, t, not_after_text, now, threshold));
            }
            watched.push(Watched {
                label,
                not_after: t,
                not_after_text: not_after_text.to_string(),
            });
        };
    if let Some(c) = status.signing_certificate.as_mut() {
        let label = format!(
            "IdP signing certificate (subject {}, sha256 {})",
            c.subject,
            short(&c.sha256_fingerprint)
        );
        track(
            label,
            &c.not_after,
            &mut c.days_remaining,
            &mut c.noticed_threshold_days,
        );
    }
    for c in &mut status.sp_certificates {
        let label = format!(
            "{} certificate of Secret {} (sha256 {})",
            if c.purpose == "sp-decryption" {
                "SP decryption"
            } else {
                "SP signing"
            },
            c.secret,
            short(&c.sha256_fingerprint)
        );
        track(
            label,
            &c.not_after,
            &mut c.days_remaining,
            &mut c.noticed_threshold_days,
        );
    }
    if let Some(earliest) = watched.iter().min_by_key(|w| w.not_after) {
        let (expiring, reason, message) = expiring_condition(earliest, now, settings.warning_days);
        status::set_condition(
            &mut status.conditions,
            status::condition(
                CERTIFICATE_EXPIRING,
                expiring,
                reason,
                &message,
                generation,
                now,
            ),
        );
    }
    notices
}

fn short(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

fn expiring_condition(w: &Watched, now: Timestamp, warning_days: i64) -> (bool, Reason, String) {
    let days = days_remaining(w.not_after, now);
    if now > w.not_after {
        (
            true,
            Reason::Expired,
            format!(
                "The {} expired at {}: sign-ins that depend on it fail. Replace it (new IdP metadata in the ConfigMap, or a new key pair in the Secret).",
                w.label, w.not_after_text
            ),
        )
    } else if days < warning_days {
        (
            true,
            Reason::ExpiresSoon,
            format!(
                "The {} expires in {days} day(s), at {} (warning window {warning_days} days): replace it before then.",
                w.label, w.not_after_text
            ),
        )
    } else {
        (
            false,
            Reason::Valid,
            format!(
                "The earliest-expiring certificate, the {}, expires in {days} days, at {}.",
                w.label, w.not_after_text
            ),
        )
    }
}

fn notice(
    label: &str,
    not_after: Timestamp,
    not_after_text: &str,
    now: Timestamp,
    threshold: i64,
) -> Notice {
    if threshold == 0 {
        Notice {
            reason: "CertificateExpired",
            note: format!("The {label} expired at {not_after_text}"),
        }
    } else {
        Notice {
            reason: "CertificateExpiring",
            note: format!(
                "The {label} expires in {} day(s), at {not_after_text} (notice at {threshold} days)",
                days_remaining(not_after, now)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{CertificateInfo, SpCertificateInfo};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const NOT_AFTER: &str = "2030-06-30T12:00:00Z";

    fn days_before(days: i64, extra_seconds: i64) -> Timestamp {
        at(NOT_AFTER) - jiff::SignedDuration::from_secs(days * DAY_SECONDS + extra_seconds)
    }

    fn status_with(sha: &str, noticed: Option<i64>) -> SsoConnectionStatus {
        SsoConnectionStatus {
            signing_certificate: Some(CertificateInfo {
                subject: "CN=idp".into(),
                not_before: "2020-01-01T00:00:00Z".into(),
                not_after: NOT_AFTER.into(),
                sha1_thumbprint: "00".into(),
                sha256_fingerprint: sha.into(),
                days_remaining: None,
                noticed_threshold_days: noticed,
                not_selected_because: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn days_remaining_rounds_down_and_goes_negative_after_expiry() {
        let t = at(NOT_AFTER);
        assert_eq!(days_remaining(t, days_before(30, 0)), 30);
        assert_eq!(days_remaining(t, days_before(29, 1)), 29);
        assert_eq!(days_remaining(t, days_before(0, 1)), 0);
        assert_eq!(days_remaining(t, t), 0);
        assert_eq!(days_remaining(t, days_before(0, -1)), -1);
        assert_eq!(days_remaining(t, days_before(-3, 0)), -3);
    }

    #[test]
    fn each_threshold_is_noticed_once_as_it_is_crossed() {
        let s = ExpirySettings::default();
        assert_eq!(s.notice_days, [0, 1, 7, 30, 90]);
        let t = at(NOT_AFTER);
        let mut noticed = None;
        let mut sent = Vec::new();
        // One look a day (and a restart each time: only `noticed` carries over).
        for day in (-3..=120).rev() {
            let now = days_before(day, -3600);
            if let Some(th) = notice_due(t, now, &s.notice_days, noticed) {
                noticed = Some(th);
                sent.push((day, th));
            }
            // A second look the same day sends nothing more.
            assert_eq!(notice_due(t, now, &s.notice_days, noticed), None);
        }
        // 89 d 23 h left is fewer than 90 days: noticed on the day it shows 89 days remaining.
        assert_eq!(sent, [(90, 90), (30, 30), (7, 7), (1, 1), (0, 0)]);
    }

    #[test]
    fn thresholds_crossed_together_give_one_notice_for_the_smallest() {
        let s = ExpirySettings::default();
        let t = at(NOT_AFTER);
        assert_eq!(
            notice_due(t, days_before(5, 0), &s.notice_days, None),
            Some(7)
        );
        assert_eq!(
            notice_due(t, days_before(5, 0), &s.notice_days, Some(30)),
            Some(7)
        );
        assert_eq!(
            notice_due(t, days_before(5, 0), &s.notice_days, Some(7)),
            None
        );
        assert_eq!(
            notice_due(t, days_before(200, 0), &s.notice_days, None),
            None
        );
        // Expired: the expiry notice, once.
        assert_eq!(
            notice_due(t, days_before(-1, 0), &s.notice_days, Some(1)),
            Some(0)
        );
        assert_eq!(
            notice_due(t, days_before(-1, 0), &s.notice_days, Some(0)),
            None
        );
    }

    #[test]
    fn the_condition_is_valid_then_expires_soon_then_expired() {
        let s = ExpirySettings::default();
        let mut st = status_with("ab", None);
        let notices = evaluate(&mut st, days_before(100, 0), &s, Some(1));
        assert!(notices.is_empty());
        let c = status::find_condition(&st.conditions, CERTIFICATE_EXPIRING).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "Valid"));
        assert_eq!(
            st.signing_certificate.as_ref().unwrap().days_remaining,
            Some(100)
        );

        let notices = evaluate(&mut st, days_before(29, 0), &s, Some(1));
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].reason, "CertificateExpiring");
        assert!(
            notices[0].note.contains("IdP signing certificate"),
            "{notices:?}"
        );
        let c = status::find_condition(&st.conditions, CERTIFICATE_EXPIRING).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "ExpiresSoon")
        );
        assert_eq!(
            st.signing_certificate
                .as_ref()
                .unwrap()
                .noticed_threshold_days,
            Some(30)
        );
        // The same day again (e.g. after a restart, from the stored status): nothing.
        assert!(evaluate(&mut st, days_before(29, 0), &s, Some(1)).is_empty());

        let notices = evaluate(&mut st, days_before(-2, 0), &s, Some(1));
        assert_eq!(notices[0].reason, "CertificateExpired");
        let c = status::find_condition(&st.conditions, CERTIFICATE_EXPIRING).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Expired"));
        assert_eq!(
            st.signing_certificate.as_ref().unwrap().days_remaining,
            Some(-2)
        );
        // Ready is not touched.
        assert!(status::find_condition(&st.conditions, status::READY).is_none());
    }

    #[test]
    fn a_new_certificate_starts_without_notices() {
        let s = ExpirySettings::default();
        let old = status_with("old", Some(7));
        // The same certificate again: nothing new to notice 20 days before.
        let mut same = status_with("old", None);
        carry_notices(&old, &mut same);
        assert!(evaluate(&mut same, days_before(20, 0), &s, None).is_empty());
        assert_eq!(noticed(&same), Some(7));
        // A new certificate (another fingerprint) with the same notAfter: noticed afresh.
        let mut new = status_with("new", None);
        carry_notices(&old, &mut new);
        assert_eq!(noticed(&new), None);
        let notices = evaluate(&mut new, days_before(20, 0), &s, None);
        assert_eq!(notices.len(), 1);
        assert_eq!(noticed(&new), Some(30));
    }

    fn noticed(st: &SsoConnectionStatus) -> Option<i64> {
        st.signing_certificate.as_ref()?.noticed_threshold_days
    }

    #[test]
    fn sp_notices_carry_over_by_purpose_and_fingerprint() {
        let sp = |purpose: &str, sha: &str, noticed| SpCertificateInfo {
            purpose: purpose.into(),
            secret: "keys".into(),
            subject: "CN=sp".into(),
            not_after: NOT_AFTER.into(),
            sha256_fingerprint: sha.into(),
            days_remaining: None,
            noticed_threshold_days: noticed,
        };
        let old = SsoConnectionStatus {
            sp_certificates: vec![
                sp("sp-signing", "a", Some(30)),
                sp("sp-decryption", "b", Some(7)),
            ],
            ..Default::default()
        };
        let mut new = SsoConnectionStatus {
            sp_certificates: vec![sp("sp-signing", "a", None), sp("sp-decryption", "c", None)],
            ..Default::default()
        };
        carry_notices(&old, &mut new);
        assert_eq!(new.sp_certificates[0].noticed_threshold_days, Some(30));
        assert_eq!(new.sp_certificates[1].noticed_threshold_days, None);
    }

    #[test]
    fn the_condition_names_the_earliest_certificate_of_all() {
        let s = ExpirySettings::default();
        let mut st = status_with("ab", None);
        st.sp_certificates.push(SpCertificateInfo {
            purpose: "sp-decryption".into(),
            secret: "dec-keys".into(),
            subject: "CN=sp".into(),
            not_after: "2030-05-01T00:00:00Z".into(),
            sha256_fingerprint: "cd".into(),
            days_remaining: None,
            noticed_threshold_days: None,
        });
        let notices = evaluate(&mut st, at("2030-04-20T00:00:00Z"), &s, Some(3));
        let c = status::find_condition(&st.conditions, CERTIFICATE_EXPIRING).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "ExpiresSoon")
        );
        assert!(
            c.message
                .contains("SP decryption certificate of Secret dec-keys"),
            "{}",
            c.message
        );
        assert_eq!(st.sp_certificates[0].days_remaining, Some(11));
        // Both crossed a threshold: the SP one 30 days, the IdP one 90 days.
        assert_eq!(notices.len(), 2, "{notices:?}");
    }

    #[test]
    fn settings_always_notice_expiry_and_ignore_negative_days() {
        let s = ExpirySettings::new(14, &[7, -1, 30, 7]);
        assert_eq!(s.notice_days, [0, 7, 30]);
        assert_eq!(s.warning_days, 14);
    }
}
