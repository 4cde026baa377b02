//! Which of the IdP's signing certificates Auth0 holds (pure): Auth0 keeps exactly one
//! `signingCert`, while an IdP in the middle of a rollover lists two.
//!
//! The rule, in order:
//!
//! 1. `spec.signingCertificateThumbprint` pins one certificate (SHA-1 or SHA-256); a pin the
//!    metadata does not list is an error, and nothing is chosen.
//! 2. Only certificates valid now and not within [`EXPIRY_MARGIN_SECONDS`] of their notAfter
//!    are *usable*; when none is usable, the valid one that lasts longest, else the one with
//!    the latest notAfter (nothing better exists).
//! 3. Per provider, among the usable ones:
//!    - `azureAd`: the first listed. Entra ID lists the certificate it signs with first, so
//!      the order follows its activation of a new certificate.
//!    - `adfs`: AD FS lists the new certificate as soon as it creates it (20 days before the
//!      old one expires) and signs with it only once it promotes it, 5 days later. The newest
//!      certificate (latest notBefore, then latest notAfter) whose notBefore is at least
//!      [`ADFS_PROMOTION_SECONDS`] ago is chosen; if none is that old, the one in use, else the
//!      first listed.
//!    - any other provider: the certificate in use (the one last applied) while it stays
//!      listed and usable; else (first sync, the IdP removed it, or it is about to expire)
//!      the first listed.
//!
//! Every certificate not chosen gets a short reason, reported in
//! `status.otherSigningCertificates[].notSelectedBecause`.

use jiff::Timestamp;

use crate::certs::Certificate;
use crate::crd::Provider;

/// A certificate that expires within this many seconds is replaced by a usable alternative
/// (one day).
pub const EXPIRY_MARGIN_SECONDS: i64 = 86_400;
/// AD FS `CertificatePromotionThreshold` default: the new certificate signs 5 days after it is
/// created.
pub const ADFS_PROMOTION_SECONDS: i64 = 5 * 86_400;

/// What the choice needs of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Lowercase hex SHA-1 of the DER.
    pub sha1: String,
    /// Lowercase hex SHA-256 of the DER.
    pub sha256: String,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
}

impl Candidate {
    /// The candidate for a parsed certificate.
    pub fn of(cert: &Certificate) -> Candidate {
        Candidate {
            sha1: cert.sha1_hex(),
            sha256: cert.sha256_hex(),
            not_before: cert.not_before(),
            not_after: cert.not_after(),
        }
    }

    fn valid(&self, now: Timestamp) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    fn usable(&self, now: Timestamp) -> bool {
        self.valid(now) && self.not_after.as_second() - now.as_second() > EXPIRY_MARGIN_SECONDS
    }
}

/// The certificate chosen and why each other one was not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Index of the chosen certificate.
    pub index: usize,
    /// Per certificate (same order): `None` for the chosen one, else why it was not chosen.
    pub not_selected_because: Vec<Option<String>>,
}

/// Lowercase hex without colons, if `pin` is a SHA-1 (40) or SHA-256 (64) hex fingerprint.
pub fn normalize_pin(pin: &str) -> Option<String> {
    let hex: String = pin
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (matches!(hex.len(), 40 | 64) && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Chooses the certificate Auth0 holds; `current` is the SHA-1 thumbprint of the one it holds
/// now (last applied), `pin` is `spec.signingCertificateThumbprint`. `Err` names the pin and
/// the listed thumbprints when the metadata does not list the pin.
pub fn choose(
    certs: &[Candidate],
    provider: Provider,
    current: Option<&str>,
    pin: Option<&str>,
    now: Timestamp,
) -> Result<Choice, String> {
    if let Some(pin) = pin {
        let wanted = normalize_pin(pin).ok_or_else(|| {
            format!("spec.signingCertificateThumbprint {pin:?} is not a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) fingerprint")
        })?;
        let Some(index) = certs
            .iter()
            .position(|c| c.sha1 == wanted || c.sha256 == wanted)
        else {
            let listed: Vec<String> = certs
                .iter()
                .map(|c| format!("SHA-1 {} / SHA-256 {}", c.sha1, c.sha256))
                .collect();
            return Err(format!(
                "spec.signingCertificateThumbprint pins {wanted}, which the metadata does not list (it lists: {}); nothing was changed in Auth0; update the pin or remove it",
                listed.join(", ")
            ));
        };
        return Ok(explain(certs, index, now, |_| {
            "not pinned (spec.signingCertificateThumbprint)".into()
        }));
    }

    let usable: Vec<usize> = (0..certs.len()).filter(|&i| certs[i].usable(now)).collect();
    if usable.is_empty() {
        // Nothing usable: the valid one lasting longest, else the latest notAfter.
        let rank = |c: &Candidate| (c.valid(now), c.not_after);
        let mut best = 0;
        for i in 1..certs.len() {
            if rank(&certs[i]) > rank(&certs[best]) {
                best = i;
            }
        }
        return Ok(explain(certs, best, now, |_| {
            "no certificate is valid for more than a day; this one lasts longer".into()
        }));
    }
    let held = current
        .map(str::to_ascii_lowercase)
        .and_then(|sha1| usable.iter().copied().find(|&i| certs[i].sha1 == sha1));
    let first = usable[0];
    match provider {
        Provider::AzureAd => Ok(explain(certs, first, now, |_| {
            "listed after the certificate Entra ID signs with (Entra ID lists the active certificate first)".into()
        })),
        Provider::Adfs => {
            let promoted = usable
                .iter()
                .copied()
                .filter(|&i| {
                    now.as_second() - certs[i].not_before.as_second() >= ADFS_PROMOTION_SECONDS
                })
                .max_by_key(|&i| {
                    (
                        certs[i].not_before,
                        certs[i].not_after,
                        std::cmp::Reverse(i),
                    )
                });
            let index = promoted.or(held).unwrap_or(first);
            Ok(explain(certs, index, now, |c| {
                let promotion =
                    Timestamp::from_second(c.not_before.as_second() + ADFS_PROMOTION_SECONDS)
                        .map(crate::certs::rfc3339)
                        .unwrap_or_default();
                if c.not_before > certs[index].not_before
                    && now.as_second() - c.not_before.as_second() < ADFS_PROMOTION_SECONDS
                {
                    format!(
                        "newer than the certificate in use, but AD FS signs with a new certificate only once it promotes it, 5 days after its creation (from {promotion})"
                    )
                } else {
                    "older than the certificate AD FS signs with".into()
                }
            }))
        }
        _ => match held {
            Some(index) => Ok(explain(certs, index, now, |_| {
                "the certificate in use is still listed and valid (rollover pending: switches when the IdP removes it or a day before its expiry)".into()
            })),
            None => Ok(explain(certs, first, now, |_| {
                "listed after the chosen certificate (the first valid one listed)".into()
            })),
        },
    }
}

/// The choice of `index`, with "expired", "not yet valid", "expires within a day" for the
/// unusable certificates and `why` for the usable ones not chosen.
fn explain(
    certs: &[Candidate],
    index: usize,
    now: Timestamp,
    why: impl Fn(&Candidate) -> String,
) -> Choice {
    let not_selected_because = certs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i == index {
                None
            } else if now < c.not_before {
                Some("not yet valid".into())
            } else if now > c.not_after {
                Some("expired".into())
            } else if !c.usable(now) && !certs[index].usable(now) {
                Some("expires within a day, before the chosen certificate".into())
            } else if !c.usable(now) {
                Some("expires within a day".into())
            } else {
                Some(why(c))
            }
        })
        .collect();
    Choice {
        index,
        not_selected_because,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn at(day: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + day * DAY).unwrap()
    }

    /// A certificate valid from day `from` to day `to`.
    fn cert(tag: char, from: i64, to: i64) -> Candidate {
        Candidate {
            sha1: tag.to_string().repeat(40),
            sha256: tag.to_string().repeat(64),
            not_before: at(from),
            not_after: at(to),
        }
    }

    fn chosen(certs: &[Candidate], p: Provider, current: Option<&str>, day: i64) -> char {
        let c = choose(certs, p, current, None, at(day)).unwrap();
        certs[c.index].sha1.chars().next().unwrap()
    }

    fn sha1(tag: char) -> String {
        tag.to_string().repeat(40)
    }

    #[test]
    fn generic_keeps_the_certificate_in_use_until_the_idp_removes_it() {
        let (a, b) = (cert('a', 0, 365), cert('b', 340, 705));
        let p = Provider::Generic;
        assert_eq!(chosen(std::slice::from_ref(&a), p, None, 300), 'a');
        // B appears, listed second or first: A stays.
        for list in [[a.clone(), b.clone()], [b.clone(), a.clone()]] {
            assert_eq!(chosen(&list, p, Some(&sha1('a')), 345), 'a');
            let reasons = choose(&list, p, Some(&sha1('a')), None, at(345)).unwrap();
            let why = reasons
                .not_selected_because
                .iter()
                .flatten()
                .next()
                .unwrap();
            assert!(why.contains("rollover pending"), "{why}");
        }
        // A removed: B.
        assert_eq!(
            chosen(std::slice::from_ref(&b), p, Some(&sha1('a')), 350),
            'b'
        );
        // A still listed but a day from its expiry: B.
        assert_eq!(
            chosen(&[a.clone(), b.clone()], p, Some(&sha1('a')), 364),
            'b'
        );
    }

    #[test]
    fn adfs_switches_when_the_new_certificate_is_promoted_not_when_it_appears() {
        // A expires on day 365; AD FS creates B on day 345 and promotes it on day 350.
        let (a, b) = (cert('a', 0, 365), cert('b', 345, 710));
        let p = Provider::Adfs;
        assert_eq!(chosen(std::slice::from_ref(&a), p, None, 300), 'a');
        for list in [[a.clone(), b.clone()], [b.clone(), a.clone()]] {
            assert_eq!(chosen(&list, p, Some(&sha1('a')), 346), 'a');
            assert_eq!(chosen(&list, p, None, 349), 'a', "first sync in the window");
            let c = choose(&list, p, Some(&sha1('a')), None, at(346)).unwrap();
            let why = c.not_selected_because.iter().flatten().next().unwrap();
            assert!(why.contains("promotes"), "{why}");
            assert_eq!(chosen(&list, p, Some(&sha1('a')), 350), 'b');
            let c = choose(&list, p, Some(&sha1('b')), None, at(351)).unwrap();
            let why = c.not_selected_because.iter().flatten().next().unwrap();
            assert!(why.contains("older"), "{why}");
        }
        assert_eq!(
            chosen(std::slice::from_ref(&b), p, Some(&sha1('a')), 366),
            'b'
        );
    }

    #[test]
    fn entra_follows_the_first_listed_certificate() {
        let (a, b) = (cert('a', 0, 1095), cert('b', 1000, 2095));
        let p = Provider::AzureAd;
        assert_eq!(chosen(std::slice::from_ref(&a), p, None, 900), 'a');
        // New certificate added inactive (listed second): A.
        assert_eq!(
            chosen(&[a.clone(), b.clone()], p, Some(&sha1('a')), 1001),
            'a'
        );
        // Activated (listed first): B.
        assert_eq!(
            chosen(&[b.clone(), a.clone()], p, Some(&sha1('a')), 1002),
            'b'
        );
        assert_eq!(
            chosen(std::slice::from_ref(&b), p, Some(&sha1('b')), 1100),
            'b'
        );
    }

    #[test]
    fn first_sync_picks_the_first_valid_listed() {
        let (a, b) = (cert('a', 0, 365), cert('b', 10, 900));
        assert_eq!(
            chosen(&[a.clone(), b.clone()], Provider::Generic, None, 20),
            'a'
        );
        assert_eq!(chosen(&[b, a], Provider::Okta, None, 20), 'b');
    }

    #[test]
    fn expired_and_not_yet_valid_are_never_chosen_when_a_valid_one_exists() {
        let (old, good, future) = (cert('o', 0, 10), cert('g', 5, 400), cert('f', 100, 900));
        for p in [Provider::Generic, Provider::AzureAd, Provider::Adfs] {
            let list = [old.clone(), future.clone(), good.clone()];
            let c = choose(&list, p, Some(&sha1('o')), None, at(50)).unwrap();
            assert_eq!(c.index, 2, "{p:?}");
            assert_eq!(c.not_selected_because[0].as_deref(), Some("expired"));
            assert_eq!(c.not_selected_because[1].as_deref(), Some("not yet valid"));
        }
        // Nothing valid: the latest notAfter.
        assert_eq!(chosen(&[old, future], Provider::Generic, None, 50), 'f');
    }

    #[test]
    fn a_pin_chooses_by_sha1_or_sha256_in_any_case_with_colons() {
        let (a, b) = (cert('a', 0, 365), cert('b', 0, 900));
        let list = [a, b];
        let colons = "B"
            .repeat(40)
            .as_bytes()
            .chunks(2)
            .map(|p| std::str::from_utf8(p).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        for pin in [colons, "b".repeat(64)] {
            let c = choose(
                &list,
                Provider::AzureAd,
                Some(&sha1('a')),
                Some(&pin),
                at(1),
            )
            .unwrap();
            assert_eq!(c.index, 1, "{pin}");
            assert_eq!(
                c.not_selected_because[0].as_deref(),
                Some("not pinned (spec.signingCertificateThumbprint)")
            );
        }
    }

    #[test]
    fn a_pin_the_metadata_does_not_list_is_an_error_naming_both() {
        let list = [cert('a', 0, 365)];
        let err = choose(&list, Provider::Generic, None, Some(&"c".repeat(40)), at(1)).unwrap_err();
        assert!(err.contains(&"c".repeat(40)), "{err}");
        assert!(err.contains(&sha1('a')), "{err}");
        let err = choose(&list, Provider::Generic, None, Some("abc"), at(1)).unwrap_err();
        assert!(err.contains("not a SHA-1"), "{err}");
    }
}
