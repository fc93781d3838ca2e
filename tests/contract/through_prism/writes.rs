//! The write calls through prism: creates, updates and deletes, each with a raw twin that does
//! the same to a twin domain, so both see the same state changes.

use super::*;

/// Writes, then the list that shows only the primary is left.
pub(super) async fn writes(run: &mut Run<'_>) {
    let ids = creates(run).await;
    let (_, app_id, app_twin) = ids[0].clone();
    updates(run, &app_id, &app_twin).await;
    deletes(run, &ids).await;
}

/// Creates a domain per key and proxy; `(key, id, twin id)` of each.
async fn creates(run: &mut Run<'_>) -> Vec<(&'static str, String, String)> {
    let post = "post";
    let mut ids = vec![];
    for (key, name, proxy) in [
        (LIVE, "app.example.com", None),
        (LIVE, "px.example.com", Some("https://px.example.com/__clerk")),
        (DEV, "localhost:3001", None),
    ] {
        let (l, w, c) = (&mut run.l, &run.w, run.c.get(key));
        let label = format!("create {name} (proxy {proxy:?})");
        let body = create(name, proxy);
        let d = l.ok(&label, c.create_domain(&body).await);
        if let Some(d) = &d {
            assert_eq!(
                (d.name.as_str(), d.proxy_url.as_deref()),
                (name, proxy),
                "{label}"
            );
        }
        let twin_name = match name.split_once(':') {
            Some((host, port)) => format!("twin.{host}:{port}"),
            None => format!("twin-{name}"),
        };
        let twin = create(&twin_name, proxy);
        let r = w.send(Method::POST, "/domains", key, Some(&to_json(&twin))).await;
        l.raw(&label, post, DOMAINS, &r, 200, None);
        let twin_id = r.body["id"].as_str().unwrap_or("dmn_missing").to_string();
        ids.push((key, id_of(&d), twin_id));
    }
    ids
}

/// `(label, body, twin's body)` of each update.
fn update_cases() -> [(&'static str, UpdateDomain, UpdateDomain); 4] {
    [
        (
            "update: rename",
            UpdateDomain {
                name: Some("app2.example.com".into()),
                ..Default::default()
            },
            UpdateDomain {
                name: Some("twin-app2.example.com".into()),
                ..Default::default()
            },
        ),
        (
            "update: proxy set",
            UpdateDomain {
                proxy_url: Some(Some("https://app2.example.com/__clerk".into())),
                ..Default::default()
            },
            UpdateDomain {
                proxy_url: Some(Some("https://twin-app2.example.com/__clerk".into())),
                ..Default::default()
            },
        ),
        (
            "update: proxy_url null",
            UpdateDomain {
                proxy_url: Some(None),
                ..Default::default()
            },
            UpdateDomain {
                proxy_url: Some(None),
                ..Default::default()
            },
        ),
        (
            "update: is_secondary",
            UpdateDomain {
                is_secondary: Some(true),
                ..Default::default()
            },
            UpdateDomain {
                is_secondary: Some(true),
                ..Default::default()
            },
        ),
    ]
}

/// Updates the first created domain and its twin.
async fn updates(run: &mut Run<'_>, app_id: &str, app_twin: &str) {
    let (l, w, live) = (&mut run.l, &run.w, &run.c.live);
    let patch = "patch";
    for (label, body, twin) in &update_cases() {
        let d = l.ok(label, live.update_domain(app_id, body).await);
        if let Some(d) = &d {
            if let Some(n) = &body.name {
                assert_eq!(&d.name, n, "{label}");
            }
            if let Some(p) = &body.proxy_url {
                assert_eq!(&d.proxy_url, p, "{label}");
            }
        }
        let r = w
            .send(
                Method::PATCH,
                &format!("/domains/{app_twin}"),
                LIVE,
                Some(&to_json(twin)),
            )
            .await;
        l.raw(label, patch, DOMAIN, &r, 200, None);
    }
}

/// Deletes every created domain and its twin.
async fn deletes(run: &mut Run<'_>, ids: &[(&'static str, String, String)]) {
    let (get, delete) = ("get", "delete");
    for (key, id, twin_id) in ids {
        let (l, w, c) = (&mut run.l, &run.w, run.c.get(key));
        let label = format!("delete {id} ({key})");
        if let Some(d) = l.ok(&label, c.delete_domain(id).await) {
            assert!(
                d.deleted && d.id.as_deref() == Some(id.as_str()),
                "{label}: {d:?}"
            );
        }
        let r = w
            .send(Method::DELETE, &format!("/domains/{twin_id}"), key, None)
            .await;
        l.raw(&label, delete, DOMAIN, &r, 200, None);
    }
    let (l, w, live) = (&mut run.l, &run.w, &run.c.live);
    let left = l.ok("list after deletes", live.list_domains().await);
    if let Some(left) = left {
        assert_eq!(left.total_count, 1, "only the primary is left: {left:?}");
    }
    let r = w.send(Method::GET, "/domains", LIVE, None).await;
    l.raw("list after deletes", get, DOMAINS, &r, 200, None);
}
