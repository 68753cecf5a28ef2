//! The open-file budget: a stream or reshard that would leave more live shards than the
//! open-file limit can serve is refused up front (LimitExceeded, naming the fix), so a
//! data directory never grows past what `Engine::open` can reopen. Its own test binary:
//! it lowers the process's RLIMIT_NOFILE (soft, then hard).

mod common;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tidelog::{Engine, Error, ErrorKind};

#[test]
fn shards_beyond_the_open_file_limit_are_refused_up_front() {
    let saved = getrlimit(Resource::Nofile);
    let tmp = tempfile::tempdir().unwrap();
    // 256 reserved + 2 per live shard: room for 22 shards.
    let limit = 256 + 2 * 22;
    if saved.maximum.is_some_and(|m| m < 256 + 2 * 100) {
        eprintln!(
            "hard open-file limit below {}: nothing to test here",
            256 + 2 * 100
        );
        return;
    }

    // A low soft limit under a higher hard one is raised, as at open: no refusal.
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(limit),
            maximum: saved.maximum,
        },
    )
    .unwrap();
    let engine = Engine::open(common::engine_config(&tmp.path().join("soft"), None)).unwrap();
    engine.create_stream("wide", 100).unwrap();
    assert!(
        getrlimit(Resource::Nofile)
            .current
            .is_none_or(|c| c >= 256 + 2 * 100)
    );
    engine.close().unwrap();

    // With the hard limit there too (lowered for good: this test has its own process),
    // what does not fit is refused.
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(limit),
            maximum: Some(limit),
        },
    )
    .unwrap();
    let dir = tmp.path().join("data");
    let engine = Engine::open(common::engine_config(&dir, None)).unwrap();
    engine.create_stream("a", 20).unwrap();
    let err = engine.create_stream("b", 3).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                requested: 302,
                limit: 300,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("ulimit -n"), "{err}");
    engine.create_stream("b", 2).unwrap();
    // A split adds two live shards (the parent stays readable until it expires).
    let err = engine
        .split_shard("b", "shardId-000000000000", "1")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    assert_eq!(
        engine.list_streams(None, None).unwrap().names,
        vec!["a", "b"]
    );
    assert_eq!(engine.describe_stream("b").unwrap().shards.len(), 2);
    engine.close().unwrap();
    // What was accepted reopens under the same limit.
    let engine = Engine::open(common::engine_config(&dir, None)).unwrap();
    assert_eq!(engine.describe_stream("a").unwrap().shards.len(), 20);
    engine.close().unwrap();
}
