//! The contract's lists (`../shared/spec/upstream-api.md`) as [`Endpoint`]s: the procedure
//! catalogue `thu-tuc` (one answer, the whole catalogue), and the paged lists `ho-so` and
//! `van-ban` (`updated_since` = mark − overlap, then `cursor` = the answer's `next_cursor`
//! until it is null).
//!
//! Answers are parsed straight from their bytes into the domain records (no tree is built).
//! Nothing here writes anywhere.

use crate::domain::time::Epoch;
use crate::upstream::body::not_json;
use crate::upstream::client::SourceClient;
use crate::upstream::endpoint::{Endpoint, Page, PageBuilder, Records, SourceError, TimeGuard};
use crate::upstream::records::{self, RawPage, RecordKind};

/// One list of a source that speaks the contract.
#[derive(Debug)]
pub struct ContractList {
    client: SourceClient,
    kind: RecordKind,
    since: Option<Epoch>,
}

impl ContractList {
    pub fn new(client: SourceClient, kind: RecordKind) -> Self {
        ContractList {
            client,
            kind,
            since: None,
        }
    }

    fn path(&self) -> &'static str {
        crate::upstream::mapping::fields::contract_path(self.kind)
    }
}

impl Endpoint for ContractList {
    type Answer = bytes::Bytes;
    type Position = String;

    fn name(&self) -> &'static str {
        self.path()
    }

    fn origin(&self) -> String {
        format!("{}/{}", self.client.name, self.path())
    }

    fn position_name(&self) -> &'static str {
        "next_cursor"
    }

    fn keeps_mark(&self) -> bool {
        self.kind != RecordKind::Procedure
    }

    async fn first(&mut self, since: Option<Epoch>) -> Result<Option<bytes::Bytes>, SourceError> {
        self.since = since;
        let paged = self.kind != RecordKind::Procedure;
        Ok(Some(
            self.client.get(self.path(), since, None, paged).await?,
        ))
    }

    async fn next(&mut self, cursor: String) -> Result<Option<bytes::Bytes>, SourceError> {
        let body = self
            .client
            .get(self.path(), self.since, Some(&cursor), true)
            .await?;
        Ok(Some(body))
    }

    fn parse(
        &mut self,
        body: bytes::Bytes,
        guard: TimeGuard,
    ) -> Result<(Page, Option<String>), SourceError> {
        if self.kind == RecordKind::Procedure {
            return parse_catalogue(&self.client.name, &body).map(|p| (p, None));
        }
        parse_page(&self.client.name, self.path(), &body, guard)
    }
}

/// Why an answer is not the contract's page: its shape, or what is wrong with its bytes.
fn contract_error(
    source: &str,
    endpoint: &str,
    shape: &str,
    body: &[u8],
    e: &serde_json::Error,
) -> SourceError {
    SourceError::Protocol(match e.classify() {
        serde_json::error::Category::Data => {
            format!("{source}/{endpoint} did not answer the contract's {shape}: {e}")
        }
        _ => format!("{source}/{endpoint}: {}", not_json(body, e)),
    })
}

/// The catalogue `thu-tuc`: one answer, the whole catalogue.
fn parse_catalogue(source: &str, body: &[u8]) -> Result<Page, SourceError> {
    let page: RawPage = serde_json::from_slice(body)
        .map_err(|e| contract_error(source, "thu-tuc", "{\"data\": [...]}", body, &e))?;
    let fetched = page.data.len();
    let mut b = PageBuilder::new(TimeGuard::new(0, 0));
    let mut out = Vec::with_capacity(fetched);
    for raw in page.data {
        b.procedure(records::parse_procedure(raw), &mut out);
    }
    let mut page = b.finish(Records::Procedures(out), fetched);
    page.completes = true;
    Ok(page)
}

/// Parses one answer of a contract list (`ho-so` or `van-ban`) of `source`, with the next
/// cursor. Never panics, whatever the bytes: an answer that is not the contract's page is an
/// error, a record that breaks the contract a rejection.
pub(crate) fn parse_page(
    source: &str,
    endpoint: &str,
    body: &[u8],
    guard: TimeGuard,
) -> Result<(Page, Option<String>), SourceError> {
    let page: RawPage = serde_json::from_slice(body).map_err(|e| {
        contract_error(
            source,
            endpoint,
            "{\"data\": [...], \"next_cursor\": ...}",
            body,
            &e,
        )
    })?;
    let fetched = page.data.len();
    let mut b = PageBuilder::new(guard);
    let records = if endpoint == "ho-so" {
        let mut out = Vec::with_capacity(fetched);
        for raw in page.data {
            b.dossier(records::parse_dossier(raw), &mut out);
        }
        Records::Dossiers(out)
    } else {
        let mut out = Vec::with_capacity(fetched);
        for raw in page.data {
            b.document(records::parse_document(raw), &mut out);
        }
        Records::Documents(out)
    };
    let next_cursor = page.next_cursor.filter(|c| !c.is_empty() && fetched > 0);
    Ok((b.finish(records, fetched), next_cursor))
}
