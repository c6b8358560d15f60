//! Tests of the simulator against the contract (upstream-api.md) and the brief: determinism,
//! paging over real HTTP, evolution with the clock, touch, personal fields, invalid records,
//! and a census of unit quality against metrics.md's default targets.

use super::*;
use crate::domain::time::ManualClock;
use crate::domain::time::{format_compact, parse_compact};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::error::Error;

type TestResult = Result<(), Box<dyn Error>>;

/// 2024-06-15 10:00 local.
fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 15, 3, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Nine units: three agencies with two one-stop codes each, six wards with one.
fn units() -> Vec<SimUnit> {
    (0..9)
        .map(|k| {
            let mut one_stop = vec![format!("000.{:02}.23.H50", k + 1)];
            if k < 3 {
                one_stop.push(format!("000.{:02}.24.H50", k + 1));
            }
            SimUnit {
                one_stop_codes: one_stop,
                document_codes: vec![format!("P{}", k + 1)],
            }
        })
        .collect()
}

fn build(seed: u64, dossiers: usize, documents: usize, clock: &Arc<ManualClock>) -> Arc<Simulator> {
    let mut o = SimOptions::new(seed, units());
    o.dossiers = dossiers;
    o.documents = documents;
    Simulator::new(o, clock.clone())
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(start_time()))
}

// ---------------------------------------------------------------------------------------------
// Reading records the way a client would

/// A field as text: a string, or a number's digits; `None` for absent, null or "".
fn text(v: &Value, k: &str) -> Option<String> {
    match v.get(k)? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn code(v: &Value, k: &str) -> Option<i64> {
    text(v, k).and_then(|s| s.parse().ok())
}

fn date(v: &Value, k: &str) -> Option<Epoch> {
    text(v, k).and_then(|s| parse_compact(&s).ok().flatten())
}

fn key(v: &Value) -> String {
    text(v, "MaHoSo")
        .or_else(|| text(v, "MaVanBan"))
        .unwrap_or_default()
}

fn updated(v: &Value) -> Epoch {
    date(v, "NgayCapNhat").unwrap_or(Epoch::MIN)
}

fn items<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The contract's reasons to reject a dossier (an independent reading of upstream-api.md).
fn problem(v: &Value) -> Option<String> {
    for k in ["MaHoSo", "NgayCapNhat"] {
        if text(v, k).is_none() {
            return Some(format!("{k} missing"));
        }
    }
    if code(v, "DaXoa") == Some(1) {
        return None;
    }
    for k in ["MaTTHC", "DonViXuLy"] {
        if text(v, k).is_none() {
            return Some(format!("{k} missing"));
        }
    }
    let mut dates: Vec<(String, Option<String>)> = [
        "NgayTiepNhan",
        "NgayHenTra",
        "NgayKetThucXuLy",
        "NgayTra",
        "NgayCapNhat",
    ]
    .iter()
    .map(|k| (k.to_string(), text(v, k)))
    .collect();
    for s in items(v, "DanhSachHoSoBoSung") {
        dates.push(("NgayHenTraMoi".into(), text(s, "NgayHenTraMoi")));
    }
    for a in items(v, "DanhSachPhieuXinLoi") {
        dates.push(("NgayBanHanh".into(), text(a, "NgayBanHanh")));
    }
    if let Some(r) = v.get("DanhGiaHaiLong").filter(|r| r.is_object()) {
        dates.push(("NgayDanhGia".into(), text(r, "NgayDanhGia")));
        if !matches!(code(r, "MucDo"), Some(1..=3)) {
            return Some("DanhGiaHaiLong.MucDo".into());
        }
    }
    for (k, d) in dates {
        if let Some(d) = d.filter(|d| !matches!(parse_compact(d), Ok(Some(_)))) {
            return Some(format!("{k} = {d}"));
        }
    }
    let status = code(v, "TrangThaiHoSo");
    if !matches!(status, Some(1..=10)) {
        return Some(format!("TrangThaiHoSo = {status:?}"));
    }
    if !matches!(code(v, "KenhThucHien"), None | Some(1..=3)) {
        return Some("KenhThucHien".into());
    }
    if !matches!(code(v, "DuocThanhToanTrucTuyen"), None | Some(0..=3)) {
        return Some("DuocThanhToanTrucTuyen".into());
    }
    if matches!(status, Some(8..=10)) && date(v, "NgayKetThucXuLy").or(date(v, "NgayTra")).is_none()
    {
        return Some("finished without an end".into());
    }
    None
}

fn fee_total(v: &Value) -> f64 {
    items(v, "DanhSachLePhi")
        .iter()
        .map(|f| {
            text(f, "Gia")
                .and_then(|g| g.parse::<f64>().ok())
                .unwrap_or(0.0)
        })
        .sum()
}

fn due(v: &Value) -> Option<Epoch> {
    let mut d = date(v, "NgayHenTra");
    for s in items(v, "DanhSachHoSoBoSung") {
        if let Some(n) = date(s, "NgayHenTraMoi") {
            d = Some(d.map_or(n, |x| x.max(n)));
        }
    }
    d
}

fn in_scope(v: &Value) -> bool {
    code(v, "DaXoa") != Some(1)
        && !matches!(code(v, "TrangThaiHoSo"), Some(1 | 3 | 7))
        && date(v, "NgayTiepNhan").is_some()
}

fn end(v: &Value) -> Option<Epoch> {
    date(v, "NgayKetThucXuLy").or(date(v, "NgayTra"))
}

/// metrics.md's late test at `e`, over a period that started before every dossier.
fn is_late(v: &Value, e: Epoch) -> bool {
    let Some(d) = due(v) else { return false };
    let finished =
        matches!(code(v, "TrangThaiHoSo"), Some(8..=10)) && end(v).is_some_and(|x| x < e);
    if finished {
        end(v).is_some_and(|x| x > d)
    } else {
        d < e
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

struct Running {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(sim: &Arc<Simulator>) -> Result<Self, Box<dyn Error>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let s = Arc::clone(sim);
        let task = tokio::spawn(async move {
            s.serve(listener, async move {
                let _ = rx.await;
            })
            .await
        });
        Ok(Running {
            base: format!("http://{addr}"),
            stop: Some(tx),
            task,
        })
    }

    async fn stop(mut self) -> TestResult {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }
}

/// Reads every page of `path`; returns the records in the order served and the page count.
async fn read_all(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    since: Option<&str>,
    limit: usize,
) -> Result<(Vec<Value>, usize), Box<dyn Error>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(s) = since {
            q.push(("updated_since", s.to_string()));
        }
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let resp = client.get(format!("{base}{path}")).query(&q).send().await?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(format!("status {}", resp.status()).into());
        }
        let page: Value = resp.json().await?;
        pages += 1;
        let data = page
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        assert!(data.len() <= limit);
        out.extend(data);
        match page.get("next_cursor") {
            Some(Value::String(c)) => cursor = Some(c.clone()),
            _ => break,
        }
        if pages > 100_000 {
            return Err("runaway paging".into());
        }
    }
    Ok((out, pages))
}

fn assert_ordered_and_unique(records: &[Value]) {
    let keys: Vec<(Epoch, String)> = records.iter().map(|v| (updated(v), key(v))).collect();
    for w in keys.windows(2) {
        assert!(w[0] < w[1], "order broken: {:?} then {:?}", w[0], w[1]);
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn same_seed_same_records_other_seed_other_records() {
    let c = clock();
    let a = build(7, 3_000, 500, &c);
    let b = build(7, 3_000, 500, &c);
    let other = build(8, 3_000, 500, &c);
    let (da, db, dother) = (a.dossiers_json(), b.dossiers_json(), other.dossiers_json());
    assert!(da.len() > 2_000);
    assert_eq!(da, db);
    assert_ne!(da, dother);
    assert_eq!(a.documents_json(), b.documents_json());
    assert_ne!(a.documents_json(), other.documents_json());
    assert_eq!(a.procedures_json(), b.procedures_json());
    for u in 0..9 {
        assert_eq!(a.unit_quality(u), b.unit_quality(u));
    }
    assert_eq!(a.unit_quality(9), None);

    // built two hours earlier the same day: the same city once the clocks agree
    let early = Arc::new(ManualClock::new(start_time() - Duration::hours(2)));
    let e = build(7, 3_000, 500, &early);
    early.set(start_time());
    assert_eq!(e.dossiers_json(), da);
    assert_eq!(e.built_at(), a.built_at());
}

#[test]
fn the_index_matches_a_brute_force_recomputation_as_time_passes() {
    let c = clock();
    let sim = build(3, 4_000, 800, &c);
    let brute = |sim: &Simulator| {
        let st = lock(&sim.dossiers);
        let t = sim.now();
        let mut keys: Vec<Key> = (0..sim.world.dossiers)
            .filter_map(|i| {
                let plan = dossier_plan(&sim.world, i);
                let list = st.touches.get(&i).map_or(&[][..], Vec::as_slice);
                dossier_view(&plan, list, t).map(|v| (v.updated, plan.order))
            })
            .collect();
        keys.sort_unstable();
        keys
    };
    for step in [0, 1, 30, 600, 3, 0] {
        c.advance(Duration::hours(step));
        let served: Vec<Key> = {
            let _ = sim.dossiers_json();
            lock(&sim.dossiers).feed.keys().copied().collect()
        };
        assert_eq!(served, brute(&sim), "after {step} h");
        sim.touch(10);
        let some: Vec<String> = sim.dossiers_json().iter().step_by(97).map(key).collect();
        assert_eq!(sim.touch_keys(&some), some.len());
    }
    // back in time rebuilds
    c.advance(Duration::days(-20));
    let _ = sim.dossiers_json();
    let served: Vec<Key> = lock(&sim.dossiers).feed.keys().copied().collect();
    assert_eq!(served, brute(&sim));
}

#[test]
fn order_keys_follow_the_text_order_of_keys() {
    let c = clock();
    let mut us = units();
    // codes that sort awkwardly: a prefix of another, a dash, lower and upper case
    us.push(SimUnit {
        one_stop_codes: vec!["000.01.23".into(), "A-1".into(), "A.1".into(), "a".into()],
        document_codes: vec![],
    });
    let mut o = SimOptions::new(11, us);
    o.dossiers = 5_000;
    o.documents = 10;
    let sim = Simulator::new(o, c);
    let mut by_order: Vec<(u64, String)> = (0..sim.world.dossiers)
        .map(|i| {
            let p = dossier_plan(&sim.world, i);
            (p.order, dossier_key(&sim.world, &p))
        })
        .collect();
    by_order.sort();
    for w in by_order.windows(2) {
        assert!(w[0].1 < w[1].1, "{} !< {}", w[0].1, w[1].1);
    }
    let keys: HashSet<&String> = by_order.iter().map(|x| &x.1).collect();
    assert_eq!(keys.len(), by_order.len(), "keys are unique");
    for (order, k) in by_order.iter().take(50) {
        assert_eq!(dossier_order_of_key(&sim.world, k), Some(*order));
    }
    assert_eq!(
        dossier_order_of_key(&sim.world, "000.01.23.H50-240101-9999999"),
        None
    );
}

#[tokio::test]
async fn paging_over_http_serves_every_record_once_in_order() -> TestResult {
    let c = clock();
    let sim = build(5, 3_000, 700, &c);
    let server = Running::start(&sim).await?;
    let client = reqwest::Client::new();

    let expected = sim.dossiers_json();
    let (served, pages) = read_all(&client, &server.base, "/ho-so", None, 97).await?;
    assert_eq!(served.len(), expected.len());
    assert_eq!(pages, expected.len().div_ceil(97));
    assert_ordered_and_unique(&served);
    assert_eq!(served, expected, "the API serves what dossiers_json shows");

    // updated_since
    let mut times: Vec<Epoch> = expected.iter().map(updated).collect();
    times.sort_unstable();
    let since = times[times.len() / 3];
    let since_s = format_compact(since);
    let (part, _) = read_all(&client, &server.base, "/ho-so", Some(&since_s), 1000).await?;
    assert_ordered_and_unique(&part);
    assert!(part.iter().all(|v| updated(v) >= since));
    assert_eq!(part.len(), times.iter().filter(|&&t| t >= since).count());
    let (part2, _) = read_all(&client, &server.base, "/ho-so", Some(&since_s), 1).await?;
    assert_eq!(part, part2, "page size does not change what is served");

    // documents
    let docs = sim.documents_json();
    let (served_docs, _) = read_all(&client, &server.base, "/van-ban", None, 64).await?;
    assert_eq!(served_docs, docs);
    assert_ordered_and_unique(&served_docs);

    // catalogue
    let cat: Value = client
        .get(format!("{}/thu-tuc", server.base))
        .send()
        .await?
        .json()
        .await?;
    let cat = cat
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert_eq!(cat, sim.procedures_json());
    assert!(
        cat.iter().any(|p| p["MucDo"].is_string()) && cat.iter().any(|p| p["MucDo"].is_number())
    );

    // bad parameters
    for q in [
        "limit=0",
        "limit=5000",
        "limit=abc",
        "updated_since=2024-05-01",
        "cursor=zz",
        "cursor=00",
    ] {
        let resp = client
            .get(format!("{}/ho-so?{q}", server.base))
            .send()
            .await?;
        assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST, "{q}");
        let resp = client
            .get(format!("{}/van-ban?{q}", server.base))
            .send()
            .await?;
        assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST, "{q}");
    }
    // a well-formed cursor naming a key of the other source
    let foreign = server::encode_cursor(since, "VB-00000001");
    let resp = client
        .get(format!("{}/ho-so?cursor={foreign}", server.base))
        .send()
        .await?;
    assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST);
    // limit 1000 is fine and a short last page has no next_cursor
    let page: Value = client
        .get(format!(
            "{}/ho-so?limit=1000&updated_since={}",
            server.base,
            format_compact(times[times.len() - 5])
        ))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(5));
    assert!(page["next_cursor"].is_null());

    let counts = sim.requests();
    assert!(
        counts.ho_so > 40 && counts.van_ban > 10 && counts.thu_tuc == 1,
        "{counts:?}"
    );
    sim.reset_requests();
    assert_eq!(sim.requests(), RequestCounts::default());
    server.stop().await
}

#[tokio::test]
async fn a_record_updated_during_a_read_is_served_again_later_and_none_is_skipped() -> TestResult {
    let c = clock();
    let sim = build(6, 2_000, 10, &c);
    let server = Running::start(&sim).await?;
    let client = reqwest::Client::new();
    let mut seen: HashMap<String, Epoch> = HashMap::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{}/ho-so?limit=100", server.base);
        if let Some(cur) = &cursor {
            url.push_str(&format!("&cursor={cur}"));
        }
        let page: Value = client.get(url).send().await?.json().await?;
        for v in page["data"].as_array().cloned().unwrap_or_default() {
            let e = seen.entry(key(&v)).or_insert(Epoch::MIN);
            *e = (*e).max(updated(&v));
        }
        pages += 1;
        if pages == 3 {
            c.advance(Duration::minutes(5));
            assert_eq!(sim.touch(50), 50);
        }
        match page["next_cursor"].as_str() {
            Some(cur) => cursor = Some(cur.to_string()),
            None => break,
        }
    }
    let now = sim.dossiers_json();
    assert_eq!(seen.len(), now.len());
    for v in &now {
        assert_eq!(
            seen.get(&key(v)),
            Some(&updated(v)),
            "{} has its latest version",
            key(v)
        );
    }
    server.stop().await
}

#[tokio::test]
async fn time_brings_new_dossiers_and_changes_and_an_incremental_read_sees_them() -> TestResult {
    let c = clock();
    let sim = build(9, 5_000, 1_000, &c);
    let before: BTreeMap<String, Value> = sim
        .dossiers_json()
        .into_iter()
        .map(|v| (key(&v), v))
        .collect();
    let max_before = before.values().map(updated).max().unwrap_or(Epoch::MIN);
    assert_eq!(
        max_before,
        crate::domain::time::epoch(start_time()).min(max_before)
    );
    let docs_before = sim.documents_json().len();

    c.advance(Duration::days(3));
    let now = crate::domain::time::epoch(c.now());
    let after: BTreeMap<String, Value> = sim
        .dossiers_json()
        .into_iter()
        .map(|v| (key(&v), v))
        .collect();
    let new: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let changed: Vec<&String> = after
        .iter()
        .filter(|(k, v)| before.get(*k).is_some_and(|b| b != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        !new.is_empty() && !changed.is_empty(),
        "{} new, {} changed",
        new.len(),
        changed.len()
    );
    assert!(
        before.keys().all(|k| after.contains_key(k)),
        "nothing vanishes"
    );
    assert!(sim.documents_json().len() > docs_before);
    for k in &changed {
        assert!(
            updated(&after[*k]) > updated(&before[*k]),
            "{k}: a change moves NgayCapNhat"
        );
    }
    for (k, v) in &after {
        assert!(updated(v) <= now);
        if let Some(b) = before.get(k).filter(|b| updated(b) == updated(v)) {
            assert_eq!(b, v, "{k}: same NgayCapNhat, same record");
        }
    }
    // statuses progressed: some dossier went from open to processed
    assert!(changed.iter().any(
        |k| matches!(code(&before[*k], "TrangThaiHoSo"), Some(2 | 4 | 5))
            && matches!(code(&after[*k], "TrangThaiHoSo"), Some(9 | 10))
    ));

    let server = Running::start(&sim).await?;
    let client = reqwest::Client::new();
    let (inc, _) = read_all(
        &client,
        &server.base,
        "/ho-so",
        Some(&format_compact(max_before)),
        250,
    )
    .await?;
    let inc_keys: HashSet<String> = inc.iter().map(key).collect();
    let expect: HashSet<String> = after
        .iter()
        .filter(|(_, v)| updated(v) >= max_before)
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(inc_keys, expect);
    for k in new.iter().chain(changed.iter()) {
        assert!(inc_keys.contains(*k), "{k} is in the incremental read");
    }
    assert!(
        inc.len() < after.len() / 2,
        "an incremental read is small: {}",
        inc.len()
    );
    server.stop().await
}

#[tokio::test]
async fn touch_changes_exactly_n_dossiers_now() -> TestResult {
    let c = clock();
    let sim = build(4, 3_000, 10, &c);
    c.advance(Duration::hours(1));
    let before: BTreeMap<String, Value> = sim
        .dossiers_json()
        .into_iter()
        .map(|v| (key(&v), v))
        .collect();
    assert_eq!(sim.touch(25), 25);
    let now = crate::domain::time::epoch(c.now());
    let after: BTreeMap<String, Value> = sim
        .dossiers_json()
        .into_iter()
        .map(|v| (key(&v), v))
        .collect();
    assert_eq!(before.len(), after.len());
    let changed: Vec<&String> = after
        .iter()
        .filter(|(k, v)| before[*k] != **v)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(changed.len(), 25);
    for k in &changed {
        assert_eq!(updated(&after[*k]), now, "{k}");
        assert_eq!(problem(&after[*k]), None, "{k} stays valid");
    }

    // over HTTP, and the touched ones come back in an incremental read
    c.advance(Duration::minutes(1));
    let server = Running::start(&sim).await?;
    let client = reqwest::Client::new();
    let resp: Value = client
        .post(format!("{}/_sim/touch?count=3", server.base))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(resp["changed"], 3);
    let (inc, _) = read_all(
        &client,
        &server.base,
        "/ho-so",
        Some(&format_compact(now + 60)),
        1000,
    )
    .await?;
    assert_eq!(inc.len(), 3);
    let bad = client
        .post(format!("{}/_sim/touch?count=x", server.base))
        .send()
        .await?;
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    assert_eq!(
        sim.requests().ho_so,
        1,
        "touch is not counted as a list request"
    );
    server.stop().await
}

#[test]
fn touch_keys_restamps_the_named_dossiers_and_their_story_goes_on() {
    let c = clock();
    let sim = build(14, 3_000, 10, &c);
    c.advance(Duration::minutes(10));
    let before: BTreeMap<String, Value> = sim
        .dossiers_json()
        .into_iter()
        .map(|v| (key(&v), v))
        .collect();
    let open: Vec<String> = before
        .iter()
        .filter(|(_, v)| matches!(code(v, "TrangThaiHoSo"), Some(2 | 4)))
        .map(|(k, _)| k.clone())
        .take(20)
        .collect();
    assert_eq!(open.len(), 20);
    let mut keys = open.clone();
    keys.push(open[0].clone()); // repeated
    keys.push("000.01.23.H50-240101-9999999".into()); // never issued
    keys.push("garbage".into());
    assert_eq!(sim.touch_keys(&keys), 20);
    let now = crate::domain::time::epoch(c.now());
    let after: BTreeMap<String, Value> = sim
        .dossiers_json()
        .into_iter()
        .map(|v| (key(&v), v))
        .collect();
    for (k, v) in &after {
        let mut b = before[k].clone();
        if open.contains(k) {
            assert_eq!(updated(v), now);
            b["NgayCapNhat"] = v["NgayCapNhat"].clone();
        }
        assert_eq!(&b, v, "{k}: only NgayCapNhat moves");
    }
    // the edited dossiers still finish on their own
    c.advance(Duration::days(120));
    let later: BTreeMap<String, Value> = sim
        .dossiers_json()
        .into_iter()
        .map(|v| (key(&v), v))
        .collect();
    for k in &open {
        let s = code(&later[k], "TrangThaiHoSo");
        assert!(matches!(s, Some(7..=10)), "{k} ended: {s:?}");
    }
}

#[test]
fn every_dossier_carries_fake_personal_data() {
    let c = clock();
    let sim = build(12, 2_000, 10, &c);
    let all = sim.dossiers_json();
    let digits12 = |s: &Option<String>| {
        s.as_ref()
            .is_some_and(|s| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()))
    };
    for v in &all {
        for k in ["ChuHoSo", "SoDienThoai", "Email", "DiaChi"] {
            assert!(text(v, k).is_some(), "{k} on {}", key(v));
        }
        assert!(digits12(&text(v, "SoGiayToChuHoSo")), "{v}");
        assert!(digits12(&text(v, "DinhDanhCHS")), "{v}");
        assert!(text(v, "Email").is_some_and(|e| e.contains('@') && e.is_ascii()));
        assert!(v["ChuHoSo"].is_string() && v["SoGiayToChuHoSo"].is_string());
    }
    let marked = all
        .iter()
        .filter(|v| text(v, "ChuHoSo").is_some_and(|n| !n.is_ascii()))
        .count();
    assert!(marked * 2 > all.len(), "Vietnamese names carry diacritics");
}

#[test]
fn invalid_share_serves_about_that_share_invalid_always_the_same() {
    let c = clock();
    let clean = build(21, 20_000, 10, &c);
    let problems: Vec<String> = clean.dossiers_json().iter().filter_map(problem).collect();
    assert!(
        problems.is_empty(),
        "without faults every record is valid: {:?}",
        &problems[..problems.len().min(5)]
    );

    let mut o = SimOptions::new(21, units());
    o.faults.invalid_share = 0.01;
    let a = Simulator::new(o.clone(), c.clone());
    let b = Simulator::new(o, c.clone());
    let bad_a: Vec<(String, String)> = a
        .dossiers_json()
        .iter()
        .filter_map(|v| problem(v).map(|p| (key(v), p)))
        .collect();
    let bad_b: Vec<(String, String)> = b
        .dossiers_json()
        .iter()
        .filter_map(|v| problem(v).map(|p| (key(v), p)))
        .collect();
    let total = a.dossiers_json().len() as f64;
    let share = bad_a.len() as f64 / total;
    assert!((0.006..0.014).contains(&share), "{share}");
    assert_eq!(bad_a, bad_b);
    let kinds: HashSet<&str> = bad_a
        .iter()
        .map(|(_, p)| p.split([' ', '=']).next().unwrap_or(""))
        .collect();
    assert!(kinds.len() >= 4, "{kinds:?}");

    // turning invalid records off at run time restores them
    a.set_faults(Faults::default());
    assert!(a.dossiers_json().iter().all(|v| problem(v).is_none()));
}

#[tokio::test]
async fn faults_and_tokens() -> TestResult {
    let c = clock();
    let mut o = SimOptions::new(2, units());
    o.dossiers = 500;
    o.documents = 100;
    o.token = Some("s3cret-đúng".into());
    let sim = Simulator::new(o, c);
    let server = Running::start(&sim).await?;
    let client = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", server.base);

    for p in ["/ho-so", "/van-ban", "/thu-tuc"] {
        assert_eq!(
            client.get(url(p)).send().await?.status(),
            reqwest::StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            client
                .get(url(p))
                .bearer_auth("wrong")
                .send()
                .await?
                .status(),
            reqwest::StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            client
                .get(url(p))
                .bearer_auth("s3cret-đúng")
                .send()
                .await?
                .status(),
            reqwest::StatusCode::OK
        );
    }

    sim.set_faults(Faults {
        error_503_share: 1.0,
        ..Faults::default()
    });
    for p in ["/ho-so", "/van-ban", "/thu-tuc"] {
        let r = client.get(url(p)).bearer_auth("s3cret-đúng").send().await?;
        assert_eq!(r.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    }
    sim.set_faults(Faults {
        error_429_share: 1.0,
        retry_after_secs: 7,
        ..Faults::default()
    });
    let r = client
        .get(url("/ho-so"))
        .bearer_auth("s3cret-đúng")
        .send()
        .await?;
    assert_eq!(r.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("7")
    );
    // touch is never faulted
    let r = client.post(url("/_sim/touch?count=1")).send().await?;
    assert_eq!(r.status(), reqwest::StatusCode::OK);

    sim.set_faults(Faults {
        error_503_share: 0.3,
        error_429_share: 0.2,
        retry_after_secs: 1,
        ..Faults::default()
    });
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for _ in 0..300 {
        let r = client
            .get(url("/thu-tuc"))
            .bearer_auth("s3cret-đúng")
            .send()
            .await?;
        *by_status.entry(r.status().as_u16()).or_default() += 1;
    }
    for (s, lo, hi) in [(503, 60, 120), (429, 35, 90), (200, 110, 190)] {
        let n = by_status.get(&s).copied().unwrap_or(0);
        assert!((lo..=hi).contains(&n), "{s}: {n} of 300 ({by_status:?})");
    }

    sim.set_faults(Faults {
        latency_ms: 120,
        ..Faults::default()
    });
    let t = std::time::Instant::now();
    let r = client
        .get(url("/ho-so?limit=1"))
        .bearer_auth("s3cret-đúng")
        .send()
        .await?;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert!(t.elapsed() >= std::time::Duration::from_millis(120));

    let counts = sim.requests();
    assert_eq!(counts.ho_so, 3 + 1 + 1 + 1);
    assert_eq!(counts.van_ban, 3 + 1);
    assert_eq!(counts.thu_tuc, 3 + 1 + 300);
    server.stop().await
}

/// Rates of metrics.md over everything received before now.
#[derive(Debug, Default, Clone, Copy)]
struct Census {
    h: usize,
    late: usize,
    apologized: usize,
    r: usize,
    digitized: usize,
    o: usize,
    online: usize,
    f: usize,
    paid: usize,
    s: usize,
    satisfied: usize,
    i: usize,
    edoc: usize,
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        f64::NAN
    } else {
        100.0 * n as f64 / d as f64
    }
}

impl Census {
    fn add(&mut self, o: &Census) {
        self.h += o.h;
        self.late += o.late;
        self.apologized += o.apologized;
        self.r += o.r;
        self.digitized += o.digitized;
        self.o += o.o;
        self.online += o.online;
        self.f += o.f;
        self.paid += o.paid;
        self.s += o.s;
        self.satisfied += o.satisfied;
        self.i += o.i;
        self.edoc += o.edoc;
    }
    fn late_rate(&self) -> f64 {
        pct(self.late, self.h)
    }
    fn apology_rate(&self) -> f64 {
        pct(self.apologized, self.late)
    }
    fn digitized_rate(&self) -> f64 {
        pct(self.digitized, self.r)
    }
    fn online_rate(&self) -> f64 {
        pct(self.online, self.o)
    }
    fn payment_rate(&self) -> f64 {
        pct(self.paid, self.f)
    }
    fn satisfaction_rate(&self) -> f64 {
        pct(self.satisfied, self.s)
    }
    fn edoc_rate(&self) -> f64 {
        pct(self.edoc, self.i)
    }
}

#[test]
fn census_good_units_meet_and_bad_units_miss_the_targets() {
    let c = clock();
    let sim = build(1, 20_000, 5_000, &c);
    let now = crate::domain::time::epoch(c.now());
    let all = sim.dossiers_json();
    let docs = sim.documents_json();
    let level: HashMap<String, i64> = sim
        .procedures_json()
        .iter()
        .filter_map(|p| Some((text(p, "MaTTHC")?, code(p, "MucDo")?)))
        .collect();
    let mut unit_of: HashMap<String, usize> = HashMap::new();
    let mut doc_unit_of: HashMap<String, usize> = HashMap::new();
    for (u, unit) in units().iter().enumerate() {
        for code in &unit.one_stop_codes {
            unit_of.insert(code.clone(), u);
        }
        for code in &unit.document_codes {
            doc_unit_of.insert(code.clone(), u);
        }
    }
    let mut per_unit = vec![Census::default(); 9];
    let mut unmapped = 0;
    for v in &all {
        let Some(&u) = text(v, "DonViXuLy").and_then(|c| unit_of.get(&c)) else {
            unmapped += 1;
            continue;
        };
        if !in_scope(v) {
            continue;
        }
        let c = &mut per_unit[u];
        let received = date(v, "NgayTiepNhan").unwrap_or(Epoch::MAX);
        if received < now {
            c.h += 1;
            if is_late(v, now) {
                c.late += 1;
                if items(v, "DanhSachPhieuXinLoi")
                    .iter()
                    .any(|a| date(a, "NgayBanHanh").is_some_and(|t| t < now))
                {
                    c.apologized += 1;
                }
            }
            if text(v, "MaTTHC").and_then(|p| level.get(&p)) == Some(&4) {
                c.o += 1;
                c.online += usize::from(code(v, "KenhThucHien") == Some(2));
            }
            if fee_total(v) > 0.0 {
                c.f += 1;
                c.paid += usize::from(matches!(code(v, "DuocThanhToanTrucTuyen"), Some(1 | 2)));
            }
        }
        if matches!(code(v, "TrangThaiHoSo"), Some(9 | 10)) && end(v).is_some_and(|e| e < now) {
            c.r += 1;
            c.digitized += usize::from(
                items(v, "DanhSachGiayToKetQua")
                    .iter()
                    .any(|p| text(p, "DuongDanTepTinKetQua").is_some()),
            );
        }
        if let Some(r) = v.get("DanhGiaHaiLong").filter(|r| r.is_object()) {
            c.s += 1;
            c.satisfied += usize::from(matches!(code(r, "MucDo"), Some(1 | 2)));
        }
    }
    let mut doc_unmapped = 0;
    for d in &docs {
        let Some(&u) = text(d, "MaDonVi").and_then(|c| doc_unit_of.get(&c)) else {
            doc_unmapped += 1;
            continue;
        };
        if code(d, "DaXoa") == Some(1) || text(d, "LoaiVanBan").as_deref() != Some("DEN") {
            continue;
        }
        per_unit[u].i += 1;
        per_unit[u].edoc += usize::from(code(d, "XuLyTrenMang") == Some(1));
    }
    assert!(unmapped > 0 && doc_unmapped > 0, "unmapped codes appear");

    let mut good = Census::default();
    let mut bad = Census::default();
    let mut classes = HashSet::new();
    for (u, c) in per_unit.iter().enumerate() {
        let q = sim.unit_quality(u).unwrap_or(Quality::Borderline);
        classes.insert(q);
        println!(
            "unit {u} {q:?}: dossiers {} late {:.2}% apology {:.1}% digitized {:.2}% online {:.1}% payment {:.1}% satisfaction {:.2}% edoc {:.1}%",
            c.h,
            c.late_rate(),
            c.apology_rate(),
            c.digitized_rate(),
            c.online_rate(),
            c.payment_rate(),
            c.satisfaction_rate(),
            c.edoc_rate()
        );
        match q {
            Quality::Good => {
                assert!(c.late_rate() <= 1.0, "good unit {u} late {}", c.late_rate());
                assert!(
                    c.online_rate() >= 70.0,
                    "good unit {u} online {}",
                    c.online_rate()
                );
                good.add(c);
            }
            Quality::Bad => {
                assert!(c.late_rate() > 1.0, "bad unit {u} late {}", c.late_rate());
                assert!(
                    c.online_rate() < 70.0,
                    "bad unit {u} online {}",
                    c.online_rate()
                );
                bad.add(c);
            }
            Quality::Borderline => {}
        }
    }
    assert_eq!(
        classes.len(),
        3,
        "a third good, a third borderline, a third bad"
    );
    // Pooled, the good units meet every default target and the bad ones miss them all.
    assert!(good.apology_rate() >= 100.0 || good.late == 0);
    assert!(good.digitized_rate() >= 99.0, "{}", good.digitized_rate());
    assert!(good.payment_rate() >= 60.0, "{}", good.payment_rate());
    assert!(
        good.satisfaction_rate() >= 99.0,
        "{}",
        good.satisfaction_rate()
    );
    assert!(good.edoc_rate() >= 80.0, "{}", good.edoc_rate());
    assert!(bad.apology_rate() < 100.0);
    assert!(bad.digitized_rate() < 99.0);
    assert!(bad.payment_rate() < 60.0);
    assert!(bad.satisfaction_rate() < 99.0);
    assert!(bad.edoc_rate() < 80.0);
}

#[test]
fn the_feed_shows_the_contract_awkward_parts() {
    let c = clock();
    let sim = build(1, 20_000, 5_000, &c);
    let all = sim.dossiers_json();
    let n = all.len() as f64;
    let share = |f: &dyn Fn(&Value) -> bool| all.iter().filter(|v| f(v)).count() as f64 / n;

    assert!(share(&|v| v["TrangThaiHoSo"].is_string()) > 0.2);
    assert!(share(&|v| v["TrangThaiHoSo"].is_number()) > 0.5);
    assert!(share(&|v| v["KenhThucHien"].is_string()) > 0.2);
    let gia: Vec<&Value> = all
        .iter()
        .flat_map(|v| items(v, "DanhSachLePhi"))
        .map(|f| &f["Gia"])
        .collect();
    assert!(gia.iter().any(|g| g.is_string()) && gia.iter().any(|g| g.is_number()));
    assert!(share(&|v| v["NgayTra"].is_null()) > 0.01 && share(&|v| v["NgayTra"] == "") > 0.01);
    let deleted = share(&|v| code(v, "DaXoa") == Some(1));
    assert!(deleted > 0.0005 && deleted < 0.005, "{deleted}");
    let catalogue: HashSet<String> = sim
        .procedures_json()
        .iter()
        .filter_map(|p| text(p, "MaTTHC"))
        .collect();
    assert!((38..=50).contains(&catalogue.len()));
    let missing = share(&|v| text(v, "MaTTHC").is_some_and(|p| !catalogue.contains(&p)));
    assert!(missing > 0.001 && missing < 0.006, "{missing}");
    let no_due = share(&|v| in_scope(v) && text(v, "NgayHenTra").is_none());
    assert!(no_due > 0.002 && no_due < 0.01, "{no_due}");
    let mut statuses: BTreeMap<i64, usize> = BTreeMap::new();
    for v in &all {
        *statuses
            .entry(code(v, "TrangThaiHoSo").unwrap_or(0))
            .or_default() += 1;
    }
    for s in [1, 2, 3, 4, 5, 7, 8, 9, 10] {
        assert!(
            statuses.contains_key(&s),
            "status {s} appears: {statuses:?}"
        );
    }
    assert!(statuses[&10] as f64 > n * 0.6, "{statuses:?}");
    // status 1 has no NgayTiepNhan; finished ones carry an end
    for v in &all {
        match code(v, "TrangThaiHoSo") {
            Some(1) => assert!(text(v, "NgayTiepNhan").is_none()),
            Some(8..=10) => assert!(end(v).is_some()),
            _ => {}
        }
    }
    let returned = all
        .iter()
        .filter(|v| code(v, "TrangThaiHoSo") == Some(10))
        .count() as f64;
    let rated = all
        .iter()
        .filter(|v| v["DanhGiaHaiLong"].is_object())
        .count() as f64;
    assert!(
        (0.2..0.35).contains(&(rated / returned)),
        "{}",
        rated / returned
    );
    let mucdo4 = sim
        .procedures_json()
        .iter()
        .filter(|p| code(p, "MucDo") == Some(4))
        .count();
    assert!(mucdo4 * 100 / catalogue.len() >= 40);
    let supp = share(&|v| !items(v, "DanhSachHoSoBoSung").is_empty());
    assert!(supp > 0.02, "{supp}");
    let postal = share(&|v| code(v, "KenhThucHien") == Some(3));
    assert!(postal > 0.005 && postal < 0.08, "{postal}");

    let docs = sim.documents_json();
    let den = docs.iter().filter(|d| d["LoaiVanBan"] == "DEN").count();
    let di = docs.iter().filter(|d| d["LoaiVanBan"] == "DI").count();
    assert!(den > 1_000 && di > 1_000);
    assert!(docs.iter().all(|d| {
        let t = if d["LoaiVanBan"] == "DEN" {
            "NgayDen"
        } else {
            "NgayBanHanh"
        };
        date(d, t).is_some() && date(d, "NgayCapNhat").is_some()
    }));
    assert!(docs.iter().any(|d| code(d, "DaXoa") == Some(1)));
    // about 80 % of the span exists at construction
    let existing = all.len() as f64 / 20_000.0;
    assert!((0.75..0.85).contains(&existing), "{existing}");
}

/// `cargo test --release -- --ignored --nocapture million`: index build and page times at 1M.
#[test]
#[ignore]
fn million_dossiers_build_and_page_fast() {
    fn rss_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|x| x.parse().ok()))
            })
            .unwrap_or(0)
    }
    let c = clock();
    let rss0 = rss_kib();
    let t = std::time::Instant::now();
    let mut o = SimOptions::new(1, units());
    o.dossiers = 1_000_000;
    o.documents = 100_000;
    let sim = Simulator::new(o, c.clone());
    let build = t.elapsed();
    let rss1 = rss_kib();
    let existing = lock(&sim.dossiers).feed.len();
    println!(
        "build: {build:?} for 1M dossiers + 100k documents; {existing} dossiers exist; resident +{} MiB ({} bytes per dossier)",
        (rss1.saturating_sub(rss0)) / 1024,
        (rss1.saturating_sub(rss0)) * 1024 / 1_000_000
    );
    let mut cursor: Option<String> = None;
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = std::time::Instant::now();
        let body = sim
            .dossier_page(None, cursor.as_deref(), 1000)
            .unwrap_or_default();
        times.push(t.elapsed());
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        cursor = v["next_cursor"].as_str().map(str::to_string);
    }
    times.sort();
    println!(
        "1000-record page: median {:?}, max {:?}",
        times[10], times[19]
    );
    let t = std::time::Instant::now();
    c.advance(Duration::days(1));
    let _ = sim.dossier_page(None, None, 1);
    println!("advance by one day: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let n = sim.touch(1000);
    println!("touch({n}): {:?}", t.elapsed());
    assert!(build < std::time::Duration::from_secs(10));
    assert!(times[10] < std::time::Duration::from_millis(50));
}
