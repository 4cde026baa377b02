//! `spec.metadata.url` fetching against a real local HTTPS server: the CA bundle, conditional
//! requests, refusal of internal addresses before any connection, failures that keep the last
//! good document, and the size limit.

#[path = "support/metadata_server.rs"]
mod metadata_server;

use std::time::Duration;

use jiff::Timestamp;
use metadata_server::{Answer, MetadataServer, idp_certificate, idp_metadata};
use sso_operator::crd::MetadataSource;
use sso_operator::metadata_url::cache::{Cache, FailureKind};
use sso_operator::metadata_url::fetch::{self, FetchError, Fetched, Request};

fn source(url: &str, ca: Option<&str>) -> MetadataSource {
    serde_json::from_value(serde_json::json!({
        "url": url, "caBundle": ca, "refreshInterval": "10s"
    }))
    .unwrap()
}

#[tokio::test]
async fn a_document_is_fetched_with_the_ca_bundle_and_then_not_modified() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = idp_certificate(dir.path(), "a", 30).unwrap();
    let doc = idp_metadata("https://idp.test/", &[&a]);
    let server = MetadataServer::start(dir.path(), Answer::Document(doc.clone()))
        .await
        .unwrap();
    let req = Request {
        url: &server.url,
        ca_bundle: Some(&server.ca_pem),
        allow_private: true,
        ..Default::default()
    };
    let Fetched::Document { body, etag, .. } = fetch::fetch(&req).await.unwrap() else {
        panic!("expected a document");
    };
    assert_eq!(body, doc.as_bytes());
    let etag = etag.expect("the server sends an ETag");
    let again = Request {
        etag: Some(&etag),
        ..req.clone()
    };
    assert_eq!(fetch::fetch(&again).await.unwrap(), Fetched::NotModified);
    assert_eq!(server.not_modified(), 1);

    // The public web roots do not trust the test CA: a TLS failure, not a document.
    let untrusted = Request {
        ca_bundle: None,
        ..req.clone()
    };
    match fetch::fetch(&untrusted).await {
        Err(FetchError::Unreachable(m)) => assert!(m.contains("fetching https://127.0.0.1"), "{m}"),
        other => panic!("{other:?}"),
    }
    let bad_bundle = Request {
        ca_bundle: Some("not a pem"),
        ..req
    };
    assert!(matches!(
        fetch::fetch(&bad_bundle).await,
        Err(FetchError::Refused(_))
    ));
}

#[tokio::test]
async fn internal_addresses_are_refused_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = idp_certificate(dir.path(), "a", 30).unwrap();
    let server = MetadataServer::start(dir.path(), Answer::Document(idp_metadata("x", &[&a])))
        .await
        .unwrap();
    let by_name = server.url.replace("127.0.0.1", "localhost");
    for url in [server.url.as_str(), by_name.as_str()] {
        let req = Request {
            url,
            ca_bundle: Some(&server.ca_pem),
            allow_private: false,
            ..Default::default()
        };
        match fetch::fetch(&req).await {
            Err(FetchError::Refused(m)) => {
                assert!(m.contains("--allow-private-metadata-urls"), "{m}");
                assert!(m.contains("nothing was requested"), "{m}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    assert_eq!(server.connections(), 0, "a refused URL was contacted");
    let http = server.url.replace("https://", "http://");
    assert!(matches!(
        fetch::fetch(&Request { url: &http, ..Default::default() }).await,
        Err(FetchError::Refused(m)) if m.contains("must be https")
    ));
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn failures_keep_the_last_good_document_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = idp_certificate(dir.path(), "a", 30).unwrap();
    let good = idp_metadata("https://idp.test/", &[&a]);
    let server = MetadataServer::start(dir.path(), Answer::Document(good.clone()))
        .await
        .unwrap();
    let src = source(&server.url, Some(&server.ca_pem));
    let cache: Cache<&str> = Cache::default();
    let retry = |_| Duration::from_secs(1);
    let t0 = Timestamp::now();
    let first = sso_operator::metadata_url::refresh(&cache, &"r", &src, true, retry, t0)
        .await
        .unwrap();
    let kept = first.good.clone().expect("a good document");
    assert_eq!(kept.xml.as_slice(), good.as_bytes());

    // Not due yet: no request.
    let before = server.requests();
    sso_operator::metadata_url::refresh(&cache, &"r", &src, true, retry, t0).await;
    assert_eq!(server.requests(), before);

    let mut t = t0 + jiff::SignedDuration::from_secs(11);
    for (answer, kind, words) in [
        (Answer::NotFound, FailureKind::Unreachable, "HTTP 404"),
        (
            Answer::Document("<html>maintenance</html>".into()),
            FailureKind::Invalid,
            "not usable federation metadata",
        ),
    ] {
        server.set(answer);
        let state = sso_operator::metadata_url::refresh(&cache, &"r", &src, true, retry, t)
            .await
            .unwrap();
        let failure = state.failure.clone().expect("the failure is recorded");
        assert_eq!(failure.kind, kind);
        assert!(failure.message.contains(words), "{}", failure.message);
        assert_eq!(
            state.good.as_ref(),
            Some(&kept),
            "the last good document stays"
        );
        assert_eq!(state.last_success, Some(t0));
        t += jiff::SignedDuration::from_secs(11);
    }
    // Back: the failure clears.
    server.set(Answer::Document(good));
    let state = sso_operator::metadata_url::refresh(&cache, &"r", &src, true, retry, t)
        .await
        .unwrap();
    assert_eq!(state.failure, None);
    assert_eq!(state.last_success, Some(t));
}

#[tokio::test]
async fn a_document_over_one_mebibyte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = format!("<x>{}</x>", "a".repeat(1 << 20));
    let server = MetadataServer::start(dir.path(), Answer::Document(big))
        .await
        .unwrap();
    let req = Request {
        url: &server.url,
        ca_bundle: Some(&server.ca_pem),
        allow_private: true,
        ..Default::default()
    };
    match fetch::fetch(&req).await {
        Err(FetchError::Unreachable(m)) => assert!(m.contains("larger than 1048576 bytes"), "{m}"),
        other => panic!("{other:?}"),
    }
}
