//! Paging styles: which parameters ask for a page, and where an answer says what comes next.
//!
//! - `cursor` (the contract's): `limit`, then `cursor` = the answer's `next_cursor` until it is
//!   null or absent. The server continues after the last record it served, so a record updated
//!   during a read is served again later and none is skipped.
//! - `offset`: `offset` = 0, then the count read so far, with `limit`; it ends at an empty page,
//!   at the answer's `total`, or, without a total, at a page shorter than asked.
//! - `page`: `page` = `first_page`, +1 each time, with the page size in `limit_param`; it ends
//!   at an empty page, at the answer's page count or total, or at a short page.
//!
//! Offset and page numbers are positions in a list that can change during a read: a record
//! updated meanwhile moves in the server's order, and a record it passed may shift onto a page
//! already read and be skipped. [`super::list`] therefore checks each multi-page read of those
//! styles and reads the window again when something changed (see its docs and docs/mapping.md).
//!
//! Answers are read without building a tree: the records' array and the few paging values are
//! found by walking JSON pointers over borrowed [`RawValue`]s.

use super::dates::DateFormat;
use super::settings::{PagingSettings, PagingStyle};
use crate::domain::time::Epoch;
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    Cursor(Option<String>),
    Offset(u64),
    Page(u64),
}

/// The raw value at `pointer` below `root`; `None` when a step is missing or null.
pub fn raw_at<'a>(root: &'a RawValue, pointer: &str) -> Result<Option<&'a RawValue>, String> {
    let mut cur = root;
    if pointer.is_empty() {
        return Ok(Some(cur));
    }
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        let text = cur.get().trim_start();
        if text.starts_with('{') {
            let map: HashMap<Cow<'a, str>, &'a RawValue> =
                serde_json::from_str(cur.get()).map_err(|e| e.to_string())?;
            match map.get(token.as_str()) {
                Some(v) => cur = v,
                None => return Ok(None),
            }
        } else if text.starts_with('[') {
            let list: Vec<&'a RawValue> =
                serde_json::from_str(cur.get()).map_err(|e| e.to_string())?;
            match token.parse::<usize>().ok().and_then(|i| list.get(i)) {
                Some(v) => cur = v,
                None => return Ok(None),
            }
        } else {
            return Ok(None);
        }
    }
    if cur.get().trim() == "null" {
        return Ok(None);
    }
    Ok(Some(cur))
}

/// The records of an answer: the array at `pointer` (absent or null: none).
pub fn records_at<'a>(root: &'a RawValue, pointer: &str) -> Result<Vec<&'a RawValue>, String> {
    match raw_at(root, pointer)? {
        None => Ok(Vec::new()),
        Some(raw) => serde_json::from_str(raw.get()).map_err(|_| {
            format!(
                "the value at '{pointer}' is not an array of records (set the list's `records` pointer)"
            )
        }),
    }
}

/// A small value at `pointer` (a total, a cursor), parsed.
pub fn value_at(root: &RawValue, pointer: &str) -> Option<Value> {
    let raw = raw_at(root, pointer).ok()??;
    serde_json::from_str(raw.get()).ok()
}

fn number(v: Option<Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The paging of one source, ready to use.
#[derive(Debug, Clone)]
pub struct Pager {
    pub settings: PagingSettings,
    since_format: DateFormat,
}

impl Pager {
    /// `None` when the settings are invalid (validation reports why before any sync).
    pub fn new(settings: &PagingSettings) -> Result<Pager, String> {
        Ok(Pager {
            settings: settings.clone(),
            since_format: DateFormat::parse(&settings.updated_since_format)?,
        })
    }

    pub fn style(&self) -> PagingStyle {
        self.settings.style
    }

    /// Whether a change during a read can make it skip records (offset and page numbers).
    pub fn positional(&self) -> bool {
        self.settings.style != PagingStyle::Cursor
    }

    /// Whether the source takes an `updated_since`.
    pub fn incremental(&self) -> bool {
        !self.settings.updated_since_param.is_empty()
    }

    pub fn first(&self) -> Position {
        match self.settings.style {
            PagingStyle::Cursor => Position::Cursor(None),
            PagingStyle::Offset => Position::Offset(0),
            PagingStyle::Page => Position::Page(self.settings.first_page),
        }
    }

    /// The query of one page request.
    pub fn query(&self, since: Option<Epoch>, pos: &Position, limit: u32) -> Vec<(String, String)> {
        let s = &self.settings;
        let mut q: Vec<(String, String)> = s
            .query
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(t) = since
            && self.incremental()
        {
            q.push((s.updated_since_param.clone(), self.since_format.write(t)));
        }
        q.push((s.limit_param.clone(), limit.to_string()));
        match pos {
            Position::Cursor(None) => {}
            Position::Cursor(Some(c)) => q.push((s.cursor_param.clone(), c.clone())),
            Position::Offset(o) => q.push((s.offset_param.clone(), o.to_string())),
            Position::Page(p) => q.push((s.page_param.clone(), p.to_string())),
        }
        q
    }

    /// Where the page after `pos` starts, or `None` after the last page. `n` is the number of
    /// records of this page and `read` the number read so far in the read, this page included.
    pub fn next(
        &self,
        pos: &Position,
        root: &RawValue,
        n: usize,
        read: u64,
        limit: u32,
    ) -> Option<Position> {
        if n == 0 {
            return None;
        }
        let s = &self.settings;
        let total = s.total.as_deref().and_then(|p| number(value_at(root, p)));
        match pos {
            Position::Cursor(_) => match value_at(root, &s.next_cursor) {
                Some(Value::String(c)) if !c.is_empty() => Some(Position::Cursor(Some(c))),
                Some(Value::Number(c)) => Some(Position::Cursor(Some(c.to_string()))),
                _ => None,
            },
            Position::Offset(o) => {
                let next = o + n as u64;
                match total {
                    Some(t) if next >= t => None,
                    Some(_) => Some(Position::Offset(next)),
                    None if (n as u64) < u64::from(limit) => None,
                    None => Some(Position::Offset(next)),
                }
            }
            Position::Page(p) => {
                let pages = s
                    .pages
                    .as_deref()
                    .and_then(|ptr| number(value_at(root, ptr)));
                let last = match (pages, total) {
                    (Some(pages), _) => *p + 1 >= s.first_page + pages,
                    (None, Some(t)) => read >= t,
                    (None, None) => (n as u64) < u64::from(limit),
                };
                (!last).then_some(Position::Page(p + 1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn pointers_walk_borrowed_answers() {
        let r =
            raw(r#"{"ok":true,"data":{"items":[{"a":1},{"a":2}],"total":"12"},"a/b":{"~x":[5]}}"#);
        let items = records_at(&r, "/data/items").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].get(), r#"{"a":2}"#);
        assert_eq!(value_at(&r, "/data/total"), Some(Value::from("12")));
        assert_eq!(value_at(&r, "/a~1b/~0x/0"), Some(Value::from(5)));
        assert!(records_at(&r, "/missing").unwrap().is_empty());
        assert!(records_at(&r, "/ok").is_err());
        let list = raw(r#"[{"a":1}]"#);
        assert_eq!(records_at(&list, "").unwrap().len(), 1);
    }

    #[test]
    fn each_style_asks_and_stops_as_documented() {
        let offset = Pager::new(&PagingSettings {
            style: PagingStyle::Offset,
            total: Some("/total".into()),
            ..PagingSettings::default()
        })
        .unwrap();
        let r = raw(r#"{"total": 250}"#);
        assert_eq!(
            offset.next(&Position::Offset(0), &r, 100, 100, 100),
            Some(Position::Offset(100))
        );
        assert_eq!(offset.next(&Position::Offset(200), &r, 50, 250, 100), None);
        let q = offset.query(Some(1_714_525_200), &Position::Offset(100), 100);
        assert!(q.contains(&("offset".into(), "100".into())));
        assert!(q.contains(&("updated_since".into(), "20240501080000".into())));

        let page = Pager::new(&PagingSettings {
            style: PagingStyle::Page,
            ..PagingSettings::default()
        })
        .unwrap();
        let empty = raw("{}");
        assert_eq!(page.first(), Position::Page(1));
        assert_eq!(
            page.next(&Position::Page(1), &empty, 100, 100, 100),
            Some(Position::Page(2))
        );
        assert_eq!(page.next(&Position::Page(2), &empty, 99, 199, 100), None);
        assert_eq!(page.next(&Position::Page(2), &empty, 0, 100, 100), None);

        let cursor = Pager::new(&PagingSettings::default()).unwrap();
        let r = raw(r#"{"next_cursor": "abc"}"#);
        assert_eq!(
            cursor.next(&Position::Cursor(None), &r, 10, 10, 100),
            Some(Position::Cursor(Some("abc".into())))
        );
        assert_eq!(
            cursor.next(
                &Position::Cursor(None),
                &raw(r#"{"next_cursor": null}"#),
                10,
                10,
                100
            ),
            None
        );
    }
}
