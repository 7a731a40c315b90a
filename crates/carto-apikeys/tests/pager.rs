//! The pagination state machine, driven with plain values: it stops on every server
//! answer and never loops forever.

use carto_apikeys::{ListOptions, Pager, StopReason};
use carto_core::models::{ApiKey, ApiKeyPage, Link, PageLinks};

fn key(name: &str) -> ApiKey {
    let mut key: ApiKey =
        serde_json::from_slice(carto_test_support::fixture("auth-api/api-key-regular.json"))
            .unwrap();
    key.name = name.to_owned();
    key
}

fn page(total: u64, names: &[&str], next: bool) -> ApiKeyPage {
    ApiKeyPage {
        total,
        count: names.len() as u64,
        result: names.iter().map(|n| key(n)).collect(),
        links: PageLinks {
            next: next.then(|| Link {
                href: "https://alice.carto.com/api/v3/api_keys?page=n".into(),
            }),
            ..PageLinks::default()
        },
    }
}

/// Drives the pager over `server` (page number -> answer) and returns the names seen,
/// the pages requested and why it stopped. Panics past 100 requests.
fn walk(per_page: u32, server: impl Fn(u32) -> ApiKeyPage) -> (Vec<String>, Vec<u32>, StopReason) {
    let mut pager = Pager::new(ListOptions::new().per_page(per_page));
    let mut names = Vec::new();
    let mut requested = Vec::new();
    while let Some(request) = pager.next_request() {
        assert_eq!(request.per_page, per_page);
        requested.push(request.page);
        assert!(requested.len() < 100, "the pager does not stop");
        names.extend(
            pager
                .handle(server(request.page))
                .into_iter()
                .map(|k| k.name),
        );
    }
    (names, requested, pager.stop_reason().unwrap())
}

#[test]
fn empty_first_page() {
    let (names, pages, why) = walk(20, |_| page(0, &[], false));
    assert!(names.is_empty());
    assert_eq!(pages, [1]);
    assert_eq!(why, StopReason::EmptyPage);
}

#[test]
fn short_last_page() {
    let (names, pages, why) = walk(2, |p| match p {
        1 => page(3, &["a", "b"], true),
        2 => page(3, &["c"], false),
        _ => panic!("page {p} requested"),
    });
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(pages, [1, 2]);
    assert_eq!(why, StopReason::ShortPage);
}

#[test]
fn total_reached_even_with_a_next_link() {
    let (names, pages, why) = walk(2, |p| match p {
        1 => page(4, &["a", "b"], true),
        2 => page(4, &["c", "d"], true),
        _ => panic!("page {p} requested"),
    });
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert_eq!(pages, [1, 2]);
    assert_eq!(why, StopReason::TotalReached);
}

#[test]
fn server_lying_about_total_stops_at_the_empty_page() {
    let (names, pages, why) = walk(2, |p| match p {
        1 => page(100, &["a", "b"], true),
        2 => page(100, &["c", "d"], true),
        _ => page(100, &[], true),
    });
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert_eq!(pages, [1, 2, 3]);
    assert_eq!(why, StopReason::EmptyPage);
}

#[test]
fn a_server_capping_per_page_is_followed_to_the_end() {
    let (names, pages, why) = walk(5, |p| match p {
        1 => page(5, &["a", "b"], true),
        2 => page(5, &["c", "d"], true),
        3 => page(5, &["e"], false),
        _ => panic!("page {p} requested"),
    });
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, [1, 2, 3]);
    assert_eq!(why, StopReason::ShortPage);
}

#[test]
fn short_pages_with_lying_links_stop_at_the_empty_page() {
    let (names, pages, why) = walk(5, |p| match p {
        1 => page(1000, &["a"], true),
        2 => page(1000, &["b"], true),
        _ => page(1000, &[], true),
    });
    assert_eq!(names, ["a", "b"]);
    assert_eq!(pages, [1, 2, 3]);
    assert_eq!(why, StopReason::EmptyPage);
}

#[test]
fn missing_next_link_stops() {
    let (names, _, why) = walk(2, |_| page(10, &["a", "b"], false));
    assert_eq!(names, ["a", "b"]);
    assert_eq!(why, StopReason::NoNextLink);
}

#[test]
fn a_server_ignoring_page_is_not_followed_forever() {
    let (names, pages, why) = walk(2, |_| page(1000, &["a", "b"], true));
    assert_eq!(names, ["a", "b"]);
    assert_eq!(pages, [1, 2]);
    assert_eq!(why, StopReason::RepeatedPage);
}

#[test]
fn the_fixture_page_is_the_only_page() {
    let fixture: ApiKeyPage = serde_json::from_slice(carto_test_support::fixture(
        "auth-api/api-key-list-page.json",
    ))
    .unwrap();
    let (names, pages, why) = walk(20, |_| fixture.clone());
    assert_eq!(names, ["Master", "MyTableApi", "Default public"]);
    assert_eq!(pages, [1]);
    assert_eq!(why, StopReason::ShortPage);
}

#[test]
fn abort_ends_the_walk() {
    let mut pager = Pager::new(ListOptions::new());
    assert_eq!(pager.page(), 1);
    pager.abort();
    assert!(pager.next_request().is_none());
    assert_eq!(pager.stop_reason(), Some(StopReason::Aborted));
    assert!(pager.handle(page(1, &["a"], false)).is_empty());
}
