//! Validation of a parsed configuration: every rule of config.md and of the foundation issue,
//! each failure a [`Problem`] with its key path. All problems are returned, never just the first.
//!
//! Pure: no I/O (secret files are read by [`super::load`] before this runs).

use super::load::Problem;
use super::types::{DatabaseKind, Settings, TargetSpec};
use crate::domain::metric::{Metric, all_names};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::str::FromStr;

/// Every problem of `s`; empty when it is valid.
pub fn validate(s: &Settings) -> Vec<Problem> {
    let mut p = Vec::new();
    database(s, &mut p);
    sources(s, &mut p);
    units(s, &mut p);
    targets(s, &mut p);
    schedule(s, &mut p);
    mail(s, &mut p);
    alerts(s, &mut p);
    reports(s, &mut p);
    commitments(s, &mut p);
    portal(s, &mut p);
    listen("http.listen", &s.http.listen, &mut p);
    if s.http.password.is_some() != s.http.username.is_some() {
        p.push(Problem::new(
            "http.username",
            "basic authentication needs both http.username and http.password (or password_file)",
        ));
    }
    if let Some(public) = &s.http.public_url {
        match url::Url::parse(public) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => p.push(Problem::new(
                "http.public_url",
                format!(
                    "'{public}' is not an http(s) address: give the dashboard's address as officials open it, e.g. https://dondoc.dongha.gov.vn"
                ),
            )),
        }
    }
    if let Some(msg) = clear_text_password(s) {
        p.push(Problem::new("http.listen", msg));
    }
    if s.simulator.enabled {
        listen("simulator.listen", &s.simulator.listen, &mut p);
    }
    let pct = s.health.min_free_disk_percent;
    if !(0.0..=100.0).contains(&pct) {
        p.push(Problem::new(
            "health.min_free_disk_percent",
            format!("{pct} is not a percentage: use 0 (off) to 100"),
        ));
    }
    if let Some(level) = &s.log.level
        && tracing_subscriber::EnvFilter::try_new(level).is_err()
    {
        p.push(Problem::new(
            "log.level",
            format!("'{level}' is not a log filter (try info, debug or dondoc=debug)"),
        ));
    }
    p
}

fn database(s: &Settings, p: &mut Vec<Problem>) {
    let url = s.database.url.trim();
    if DatabaseKind::of(url).is_none() {
        p.push(Problem::new(
            "database.url",
            format!("'{url}' is neither sqlite://PATH nor postgres://…"),
        ));
    }
    if s.database.max_connections == 0 {
        p.push(Problem::new(
            "database.max_connections",
            "must be at least 1",
        ));
    }
}

fn sources(s: &Settings, p: &mut Vec<Problem>) {
    if s.sources.is_empty() {
        p.push(Problem::new(
            "sources",
            "at least one source is required: add [sources.NAME] with kind and base_url",
        ));
    }
    for (name, src) in &s.sources {
        let at = |k: &str| format!("sources.{name}.{k}");
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            p.push(Problem::new(
                format!("sources.{name}"),
                "a source name may hold only letters, digits, '_' and '-' (it prefixes record keys)",
            ));
        }
        super::mapping::validate_source(name, src, p);
        if src.kind == super::types::SourceKind::Import {
            if !src.base_url.is_empty() {
                p.push(Problem::new(
                    at("base_url"),
                    "an import source reads files from its folder: remove base_url",
                ));
            }
            continue;
        }
        match url::Url::parse(&src.base_url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            Ok(u) => p.push(Problem::new(
                at("base_url"),
                format!(
                    "'{}' must be http:// or https://, not {}://",
                    src.base_url,
                    u.scheme()
                ),
            )),
            Err(e) => p.push(Problem::new(
                at("base_url"),
                format!("'{}' is not a URL: {e}", src.base_url),
            )),
        }
        if !(1..=1000).contains(&src.page_size) {
            p.push(Problem::new(
                at("page_size"),
                format!("{} is outside 1..1000", src.page_size),
            ));
        }
        if src.timeout_secs == 0 {
            p.push(Problem::new(at("timeout_secs"), "must be at least 1"));
        }
        if src.connect_timeout_secs == 0 {
            p.push(Problem::new(
                at("connect_timeout_secs"),
                "must be at least 1",
            ));
        }
        if src.max_attempts == 0 {
            p.push(Problem::new(at("max_attempts"), "must be at least 1"));
        }
        // An upstream dondoc does not control (docs/upstream-safety.md).
        if src.allowed_skew_secs > src.overlap_secs {
            p.push(Problem::new(
                at("allowed_skew_secs"),
                format!(
                    "{} is more than overlap_secs ({}): a mark moved to now + skew would skip records updated just after a pass; lower it or raise overlap_secs",
                    src.allowed_skew_secs, src.overlap_secs
                ),
            ));
        }
        if src.max_page_mib == 0 || src.max_page_mib > 4096 {
            p.push(Problem::new(
                at("max_page_mib"),
                format!("{} is outside 1..4096", src.max_page_mib),
            ));
        }
        if !src.max_requests_per_sec.is_finite() || src.max_requests_per_sec < 0.0 {
            p.push(Problem::new(
                at("max_requests_per_sec"),
                "must be a number of requests per second, 0 or more (0 = no cap)",
            ));
        }
        if src.max_in_flight == 0 {
            p.push(Problem::new(at("max_in_flight"), "must be at least 1"));
        }
        if let Some(c) = &src.contact
            && (c.trim().is_empty() || c.chars().any(|ch| ch.is_control() || !ch.is_ascii()))
        {
            p.push(Problem::new(
                at("contact"),
                "must be a non-empty ASCII address or URL (it travels in the User-Agent header)",
            ));
        }
    }
}

fn units(s: &Settings, p: &mut Vec<Problem>) {
    if s.units.is_empty() {
        p.push(Problem::new(
            "units",
            "at least one unit is required: add [[units]] with code and name",
        ));
        return;
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, u) in s.units.iter().enumerate() {
        if u.code.trim().is_empty() {
            p.push(Problem::new(format!("units[{i}].code"), "is empty"));
        } else if let Some(first) = index.insert(u.code.as_str(), i) {
            p.push(Problem::new(
                format!("units[{i}].code"),
                format!("'{}' is already the code of units[{first}]", u.code),
            ));
            index.insert(u.code.as_str(), first);
        }
        if u.name.trim().is_empty() {
            p.push(Problem::new(format!("units[{i}].name"), "is empty"));
        }
    }
    let mut roots = Vec::new();
    for (i, u) in s.units.iter().enumerate() {
        match &u.parent {
            None => roots.push(i),
            Some(parent) if !index.contains_key(parent.as_str()) => p.push(Problem::new(
                format!("units[{i}].parent"),
                format!("'{parent}' is not the code of any unit"),
            )),
            Some(parent) if parent == &u.code => p.push(Problem::new(
                format!("units[{i}].parent"),
                format!("unit '{}' cannot be its own parent", u.code),
            )),
            Some(_) => {}
        }
    }
    if roots.len() > 1 {
        let codes: Vec<String> = roots
            .iter()
            .map(|i| format!("'{}' (units[{i}])", s.units[*i].code))
            .collect();
        for i in roots.iter().skip(1) {
            p.push(Problem::new(
                format!("units[{i}].parent"),
                format!(
                    "more than one root unit: {} have no parent; exactly one unit (the whole city) may have none",
                    codes.join(", ")
                ),
            ));
        }
    }
    // Cycles: follow parents from every unit; a walk longer than the unit count loops.
    let mut reported: HashSet<String> = HashSet::new();
    for (i, u) in s.units.iter().enumerate() {
        if u.parent.as_deref() == Some(u.code.as_str()) {
            continue; // reported above as its own parent
        }
        let mut seen = vec![u.code.as_str()];
        let mut cur = u.parent.as_deref();
        while let Some(code) = cur {
            let Some(&j) = index.get(code) else { break };
            if code == u.code {
                let mut cycle: Vec<&str> = seen.clone();
                cycle.sort_unstable();
                let key = cycle.join(",");
                if reported.insert(key) {
                    seen.push(code);
                    p.push(Problem::new(
                        format!("units[{i}].parent"),
                        format!("a cycle of parents: {}", seen.join(" → ")),
                    ));
                }
                break;
            }
            if seen.contains(&code) || seen.len() > s.units.len() {
                break;
            }
            seen.push(code);
            cur = s.units[j].parent.as_deref();
        }
    }
    if roots.is_empty() && reported.is_empty() {
        p.push(Problem::new(
            "units",
            "no root unit: exactly one unit (the whole city) must have no parent",
        ));
    }
    claims(s, p, "one_stop_codes", |u| &u.one_stop_codes);
    claims(s, p, "document_codes", |u| &u.document_codes);
    for (i, u) in s.units.iter().enumerate() {
        for (j, e) in u.emails.iter().enumerate() {
            email(&format!("units[{i}].emails[{j}]"), e, p);
        }
        target_map(&format!("units[{i}].targets"), &u.targets, p);
    }
}

fn claims(
    s: &Settings,
    p: &mut Vec<Problem>,
    key: &str,
    codes: impl Fn(&super::types::UnitSettings) -> &Vec<String>,
) {
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for (i, u) in s.units.iter().enumerate() {
        for (j, c) in codes(u).iter().enumerate() {
            if let Some(first) = owner.get(c.as_str()) {
                p.push(Problem::new(
                    format!("units[{i}].{key}[{j}]"),
                    format!("upstream code '{c}' is already claimed by unit '{first}': a code belongs to one unit"),
                ));
            } else {
                owner.insert(c.as_str(), u.code.as_str());
            }
        }
    }
}

fn target(path: &str, metric: &str, t: &TargetSpec, p: &mut Vec<Problem>) {
    if Metric::from_name(metric).is_none() {
        p.push(Problem::new(
            path,
            format!("unknown metric '{metric}'; the metrics are {}", all_names()),
        ));
        return;
    }
    match (t.min, t.max) {
        (None, None) => p.push(Problem::new(
            path,
            "a target needs min (higher is better) or max (lower is better)",
        )),
        (Some(_), Some(_)) => p.push(Problem::new(path, "a target has min or max, not both")),
        (Some(v), None) | (None, Some(v)) if !(0.0..=100.0).contains(&v) => p.push(Problem::new(
            path,
            format!("{v} is not a percentage between 0 and 100"),
        )),
        _ => {}
    }
}

fn target_map(path: &str, map: &BTreeMap<String, TargetSpec>, p: &mut Vec<Problem>) {
    for (metric, t) in map {
        target(&format!("{path}.{metric}"), metric, t, p);
    }
}

fn targets(s: &Settings, p: &mut Vec<Problem>) {
    target_map("targets", &s.targets, p);
    for (name, group) in &s.field_groups {
        if group.codes.is_empty() {
            p.push(Problem::new(
                format!("field_groups.{name}"),
                "a field group needs at least one MaLinhVuc code",
            ));
        }
        if let Some(n) = &group.name
            && (n.trim().is_empty() || n.chars().any(char::is_control))
        {
            p.push(Problem::new(
                format!("field_groups.{name}.name"),
                "a display name is a line of text (not empty, no control characters); leave `name` out to show the key",
            ));
        }
    }
    for (i, st) in s.scoped_targets.iter().enumerate() {
        let path = format!("scoped_targets[{i}]");
        if !s.field_groups.contains_key(&st.scope) {
            let known: Vec<&str> = s.field_groups.keys().map(String::as_str).collect();
            p.push(Problem::new(
                format!("{path}.scope"),
                format!(
                    "'{}' is not a field group; the groups of [field_groups] are: {}",
                    st.scope,
                    if known.is_empty() {
                        "(none)".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        if let Some(m) = Metric::from_name(&st.metric)
            && matches!(m, Metric::EdocRate | Metric::EsignRate)
        {
            p.push(Problem::new(
                format!("{path}.metric"),
                format!(
                    "{m} counts documents, which have no field (lĩnh vực): it cannot be scoped"
                ),
            ));
        }
        target(&format!("{path}.metric"), &st.metric, &st.spec(), p);
    }
}

/// Whether `http.listen` is reachable from other machines (anything but a loopback address).
fn beyond_loopback(listen: &str) -> bool {
    SocketAddr::from_str(listen).is_ok_and(|a| !a.ip().is_loopback())
}

/// Basic authentication on an address other machines reach, without TLS in front: the password
/// would cross the network in clear text with every request. Refused unless the administrator
/// says that TLS is terminated in front of dondoc (`http.behind_tls_proxy`).
fn clear_text_password(s: &Settings) -> Option<String> {
    let auth = s.http.username.is_some() || s.http.password.is_some();
    (auth && beyond_loopback(&s.http.listen) && !s.http.behind_tls_proxy).then(|| {
        format!(
            "{} is reachable from other machines and the dashboard uses basic authentication, \
             whose password crosses the network in clear text without TLS. Listen on 127.0.0.1 \
             behind a reverse proxy that serves HTTPS (deploy/README.md), or, when TLS is already \
             terminated in front of dondoc, say so with http.behind_tls_proxy = true",
            s.http.listen
        )
    })
}

/// What is valid but probably not meant: `check-config` prints these and the daemon logs them at
/// start; they never stop dondoc.
pub fn warnings(s: &Settings) -> Vec<Problem> {
    let mut w = Vec::new();
    for (name, src) in &s.sources {
        super::mapping::validate::warnings_source(name, src, &mut w);
    }
    if beyond_loopback(&s.http.listen) && s.http.username.is_none() {
        w.push(Problem::new(
            "http.listen",
            format!(
                "{} is reachable from other machines and the dashboard has no authentication: \
                 anyone who reaches it reads it. Set http.username and http.password_file, or \
                 restrict the port with the firewall",
                s.http.listen
            ),
        ));
    }
    w
}

/// Checks a cron expression in the cron crate's form (seconds first).
pub fn cron_problem(expr: &str) -> Option<String> {
    let fields = expr.split_whitespace().count();
    if fields == 5 {
        return Some(format!(
            "'{expr}' has 5 fields (Unix cron); dondoc's cron has a seconds field first: 6 or 7 fields, e.g. '0 {expr}'"
        ));
    }
    match cron::Schedule::from_str(expr) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "'{expr}' is not a cron expression (sec min hour day month weekday [year]): {e}"
        )),
    }
}

fn schedule(s: &Settings, p: &mut Vec<Problem>) {
    for (key, expr) in [
        ("schedule.sync", &s.schedule.sync),
        ("schedule.alerts", &s.schedule.alerts),
        ("schedule.deliver", &s.schedule.deliver),
    ] {
        if let Some(msg) = cron_problem(expr) {
            p.push(Problem::new(key, msg));
        }
    }
}

/// The address inside `Name <address>`, or the whole text.
pub fn mailbox_address(s: &str) -> &str {
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].trim(),
        _ => s.trim(),
    }
}

fn email(path: &str, addr: &str, p: &mut Vec<Problem>) {
    if email_address::EmailAddress::from_str(mailbox_address(addr)).is_err() {
        p.push(Problem::new(
            path,
            format!("'{addr}' is not an e-mail address"),
        ));
    }
}

fn mail(s: &Settings, p: &mut Vec<Problem>) {
    for (i, e) in s.alerts.cc.iter().enumerate() {
        email(&format!("alerts.cc[{i}]"), e, p);
    }
    for (i, e) in s.alerts.admin.iter().enumerate() {
        email(&format!("alerts.admin[{i}]"), e, p);
    }
    if let Some(smtp) = &s.smtp {
        if smtp.transport == super::types::MailTransport::Smtp && smtp.host.trim().is_empty() {
            p.push(Problem::new(
                "smtp.host",
                "is required with transport = \"smtp\" (or set transport = \"file\")",
            ));
        }
        if let Some(h) = &smtp.hello_name
            && (h.trim().is_empty() || h.contains(char::is_whitespace))
        {
            p.push(Problem::new(
                "smtp.hello_name",
                format!("'{h}' is not a host name"),
            ));
        }
        email("smtp.from", &smtp.from, p);
    }
}

fn alerts(s: &Settings, p: &mut Vec<Problem>) {
    let a = &s.alerts;
    if a.pending_evaluations == 0 {
        p.push(Problem::new(
            "alerts.pending_evaluations",
            "must be at least 1",
        ));
    }
    if a.repeat_days == 0 {
        p.push(Problem::new("alerts.repeat_days", "must be at least 1"));
    }
    if a.max_attempts == Some(0) {
        p.push(Problem::new("alerts.max_attempts", "must be at least 1"));
    }
    if a.mail_lifetime.secs < 60 {
        p.push(Problem::new(
            "alerts.mail_lifetime",
            "must be at least a minute (\"3d\" keeps retrying for three days)",
        ));
    }
    if a.mail_stuck_hours == 0 {
        p.push(Problem::new(
            "alerts.mail_stuck_hours",
            "must be at least 1 (hours a message may wait before /healthz says degraded)",
        ));
    }
    if !(0.0..=100.0).contains(&a.warn_margin) {
        p.push(Problem::new(
            "alerts.warn_margin",
            "is in percentage points, between 0 and 100",
        ));
    }
    if a.periods.is_empty() {
        p.push(Problem::new(
            "alerts.periods",
            "name at least one of month, quarter, year",
        ));
    }
}

fn reports(s: &Settings, p: &mut Vec<Problem>) {
    let r = &s.reports;
    for (i, e) in r.recipients.iter().enumerate() {
        email(&format!("reports.recipients[{i}]"), e, p);
    }
    for (i, e) in r.cc.iter().enumerate() {
        email(&format!("reports.cc[{i}]"), e, p);
    }
    if let Some(msg) = cron_problem(&r.schedule) {
        p.push(Problem::new("reports.schedule", msg));
    }
    if r.action_list_cap == 0 {
        p.push(Problem::new(
            "reports.action_list_cap",
            "must be at least 1 (dossier codes listed per unit and list)",
        ));
    }
    if r.addressee.trim().is_empty() {
        p.push(Problem::new(
            "reports.addressee",
            "is empty: name whom the report is addressed to, e.g. \"Phòng Nội vụ\"",
        ));
    }
}

/// `[portal]` (issue 19).
fn portal(s: &Settings, p: &mut Vec<Problem>) {
    let Some(c) = &s.portal else { return };
    match url::Url::parse(c.base_url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => p.push(Problem::new(
            "portal.base_url",
            format!(
                "'{}' is not an http(s) URL: give the portal's address, e.g. https://dichvucong.gov.vn",
                c.base_url
            ),
        )),
    }
    if c.root_department_id.trim().is_empty() {
        p.push(Problem::new(
            "portal.root_department_id",
            "is empty: give the province's rootDepartmentId on the portal",
        ));
    }
    if c.contact.trim().is_empty() || c.contact.chars().any(char::is_control) {
        p.push(Problem::new(
            "portal.contact",
            "give a contact (a mail address or URL) for the User-Agent, so that the portal's operators can reach you",
        ));
    }
    for unit in c.departments.keys() {
        if !s.units.iter().any(|u| &u.code == unit) {
            p.push(Problem::new(
                format!("portal.departments.{unit}"),
                format!("'{unit}' is not a configured unit code"),
            ));
        }
    }
    if let Some(msg) = cron_problem(&c.schedule) {
        p.push(Problem::new("portal.schedule", msg));
    }
    if c.min_interval_ms < 500 {
        p.push(Problem::new(
            "portal.min_interval_ms",
            "must be at least 500: the portal is asked about one request a second",
        ));
    }
    if c.max_attempts == 0 || c.max_attempts > 5 {
        p.push(Problem::new("portal.max_attempts", "must be 1 to 5"));
    }
    if c.page_size == 0 || c.page_size > 1000 {
        p.push(Problem::new("portal.page_size", "must be 1 to 1000"));
    }
    if c.timeout_secs == 0 {
        p.push(Problem::new("portal.timeout_secs", "must be at least 1"));
    }
    let bad = |v: f64| v.is_nan() || v < 0.0;
    if bad(c.tolerance_points) || bad(c.tolerance_count_pct) {
        p.push(Problem::new(
            "portal.tolerance_points",
            "tolerances must be numbers of 0 or more",
        ));
    }
}

fn listen(path: &str, addr: &str, p: &mut Vec<Problem>) {
    if SocketAddr::from_str(addr).is_err() {
        p.push(Problem::new(
            path,
            format!("'{addr}' is not an address:port such as 127.0.0.1:9464"),
        ));
    }
}

/// `[[commitments]]` and `[letter]` (issue 20, docs/letter.md).
fn commitments(s: &Settings, p: &mut Vec<Problem>) {
    use super::types::CommitmentKind;
    let units: HashSet<&str> = s.units.iter().map(|u| u.code.as_str()).collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, c) in s.commitments.iter().enumerate() {
        let at = |k: &str| format!("commitments[{i}].{k}");
        let code = c.code.trim();
        if code.is_empty() {
            p.push(Problem::new(at("code"), "is empty"));
        } else if !code
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' || ch == '.')
        {
            p.push(Problem::new(
                at("code"),
                format!("'{code}' may hold only letters A-Z, digits, '_', '-' and '.'"),
            ));
        } else if let Some(first) = seen.insert(code, i) {
            p.push(Problem::new(
                at("code"),
                format!("'{code}' is already the code of commitments[{first}]"),
            ));
        }
        if c.text.trim().is_empty() {
            p.push(Problem::new(
                at("text"),
                "is empty: give the criterion as the letter words it",
            ));
        }
        if c.owners.is_empty() {
            p.push(Problem::new(
                at("owners"),
                "name at least one unit code, or \"all\"",
            ));
        }
        for (j, o) in c.owners.iter().enumerate() {
            if o != "all" && !units.contains(o.as_str()) {
                p.push(Problem::new(
                    format!("commitments[{i}].owners[{j}]"),
                    format!("'{o}' is not the code of any [[units]] (or write \"all\")"),
                ));
            }
        }
        let due = c.due.trim();
        if !matches!(due, "each_quarter" | "year")
            && chrono::NaiveDate::parse_from_str(due, "%Y-%m-%d").is_err()
        {
            p.push(Problem::new(
                at("due"),
                format!("'{due}' is none of each_quarter, year, or a date YYYY-MM-DD"),
            ));
        }
        if let Some(metric) = &c.metric {
            if Metric::from_name(metric).is_none() {
                p.push(Problem::new(
                    at("metric"),
                    format!("'{metric}' is not a rate; known: {}", all_names()),
                ));
            }
            if c.kind != CommitmentKind::Percent {
                p.push(Problem::new(
                    at("kind"),
                    "a criterion measured by a rate is a percent",
                ));
            }
            if c.min.is_some() || c.max.is_some() {
                p.push(Problem::new(
                    at("min"),
                    "a criterion measured by a rate takes its target from [targets] (or [[scoped_targets]]): remove min/max here",
                ));
            }
            if let Some(scope) = &c.scope
                && !s.field_groups.contains_key(scope)
            {
                p.push(Problem::new(
                    at("scope"),
                    format!("'{scope}' is not a group of [field_groups]"),
                ));
            }
        } else {
            if c.scope.is_some() {
                p.push(Problem::new(
                    at("scope"),
                    "only a criterion with a metric has a scope",
                ));
            }
            match c.kind {
                CommitmentKind::Percent | CommitmentKind::Count => {
                    if c.min.is_some() == c.max.is_some() {
                        p.push(Problem::new(
                            at("min"),
                            "a percent or count criterion needs exactly one of min (at least) or max (at most)",
                        ));
                    }
                    for (k, v) in [("min", c.min), ("max", c.max)] {
                        if let Some(v) = v
                            && (!v.is_finite()
                                || v < 0.0
                                || (c.kind == CommitmentKind::Percent && v > 100.0))
                        {
                            p.push(Problem::new(at(k), format!("{v} is out of range")));
                        }
                    }
                }
                CommitmentKind::Done | CommitmentKind::Date => {
                    if c.min.is_some() || c.max.is_some() {
                        p.push(Problem::new(
                            at("min"),
                            "a done or date criterion has no min/max: it is met when done by its due date",
                        ));
                    }
                }
            }
        }
    }
    if !s.commitments.is_empty()
        && let Some(msg) = cron_problem(&s.letter.schedule)
    {
        p.push(Problem::new("letter.schedule", msg));
    }
    for (i, e) in s.letter.cc.iter().enumerate() {
        email(&format!("letter.cc[{i}]"), e, p);
    }
}
