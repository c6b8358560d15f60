//! The daemon's `letter` job (cron `letter.schedule`, by default 08:00 daily; scheduled only when
//! `[[commitments]]` holds criteria). Each fire, in Asia/Ho_Chi_Minh:
//!
//! 1. imports the returned forms waiting in `letter.inbox` (done ones move to `imported/`,
//!    refused ones to `refused/` with a `.txt` of the reasons);
//! 2. for the quarter of the fire's date (and in December the year), whose form is due on the
//!    12th of the quarter's last month (12 December): from `letter.form_days_before` days before
//!    the deadline, mails each unit that has not returned its form the pre-filled form (once per
//!    unit and period: the Message-ID says which); from `letter.remind_days_before` days before
//!    it to the deadline itself, a reminder a day (the form attached again) to each unit that
//!    still has not returned it. A unit that returned its form gets neither.
//!
//! Mail goes through the outbox (Message-IDs derived from unit, period and day: a fire served
//! twice queues once); delivery is the caller's. Units without `emails` are skipped and logged.

use super::register::{deadline_date, form_units};
use super::{LetterError, forms, import, status};
use crate::app::App;
use crate::config::Settings;
use crate::domain::mail::XLSX_TYPE;
use crate::domain::mail::{Attachment, OutgoingMail};
use crate::domain::time::{Epoch, to_local};
use crate::domain::{Period, PeriodKind};
use chrono::Datelike;
use std::path::Path;

/// The job's name in `job_runs`.
pub const JOB: &str = "letter";

/// What one fire did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    /// Forms imported from the inbox, and refused.
    pub imported: usize,
    pub refused: usize,
    /// Units mailed their form, and reminded.
    pub forms: Vec<String>,
    pub reminders: Vec<String>,
    /// Messages queued (0 when already queued).
    pub queued: usize,
}

/// The periods a fire looks after: its quarter, and in December its year.
pub fn periods_for(fire: Epoch) -> Vec<Period> {
    let mut out = vec![Period::containing(PeriodKind::Quarter, fire)];
    if to_local(fire).month() == 12 {
        out.push(Period::containing(PeriodKind::Year, fire));
    }
    out
}

fn domain(s: &Settings) -> String {
    s.smtp
        .as_ref()
        .and_then(|m| {
            crate::config::validate::mailbox_address(&m.from)
                .rsplit_once('@')
                .map(|(_, d)| d.to_string())
        })
        .unwrap_or_else(|| "dondoc".into())
}

fn safe(x: &str) -> String {
    x.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The form (or reminder) mail of one unit.
pub fn compose(
    s: &Settings,
    c: &status::Consolidation,
    unit: &str,
    reminder: bool,
    day: chrono::NaiveDate,
) -> Result<Option<OutgoingMail>, LetterError> {
    let Some(u) = s.units.iter().find(|u| u.code == unit) else {
        return Ok(None);
    };
    if u.emails.is_empty() {
        tracing::warn!(
            job = JOB,
            unit,
            "no emails for this unit: its letter form is not mailed"
        );
        return Ok(None);
    }
    let deadline = chrono::NaiveDate::parse_from_str(&c.deadline, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| c.deadline.clone());
    let manual = c.rows_of(unit).filter(|r| !r.automatic).count();
    let (subject, message_id, intro) = if reminder {
        (
            format!(
                "Nhắc báo cáo: {} chưa gửi kết quả thực hiện cam kết {} (hạn {deadline})",
                u.name, c.label
            ),
            format!(
                "dondoc.letter-remind.{}.{}.{}@{}",
                safe(unit),
                c.period,
                day.format("%Y%m%d"),
                domain(s)
            ),
            format!(
                "Đến nay Phòng Nội vụ chưa nhận được báo cáo kết quả thực hiện cam kết {} của {}. Hạn gửi: {deadline}.",
                c.label, u.name
            ),
        )
    } else {
        (
            format!(
                "Biểu mẫu báo cáo kết quả thực hiện cam kết {} — {} (hạn {deadline})",
                c.label, u.name
            ),
            format!(
                "dondoc.letter-form.{}.{}@{}",
                safe(unit),
                c.period,
                domain(s)
            ),
            format!(
                "Gửi {} biểu mẫu báo cáo kết quả thực hiện các nội dung đã cam kết {}, hạn gửi Phòng Nội vụ: {deadline}.",
                u.name, c.label
            ),
        )
    };
    let text = format!(
        "Kính gửi {},\n\n{intro}\n\nCác chỉ tiêu tự động đã được điền sẵn số liệu. Đơn vị điền {manual} nội dung còn lại (các ô màu vàng: kết quả, minh chứng, ghi chú) vào tệp đính kèm và gửi lại tệp .xlsx, không đổi bố cục.\n\n— dondoc, theo dõi cải cách hành chính\n",
        u.name
    );
    Ok(Some(OutgoingMail {
        message_id,
        to: u.emails.clone(),
        cc: s.letter.cc.clone(),
        subject,
        text,
        html: None,
        attachment: Some(Attachment {
            filename: format!("phu-luc-cam-ket-{}-{}.xlsx", unit.to_lowercase(), c.period),
            content_type: XLSX_TYPE.to_string(),
            bytes: forms::workbook(s, c, unit)?,
        }),
    }))
}

/// Imports every .xlsx waiting in the inbox folder; returns (imported, refused).
pub async fn import_inbox(
    app: &App,
    dir: &Path,
    now: Epoch,
) -> Result<(usize, usize), LetterError> {
    let io = |what, path: &Path, source| LetterError::Io {
        what,
        path: path.display().to_string(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(io("read the folder", dir, e)),
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("xlsx"))
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(['.', '~']))
        })
        .collect();
    files.sort();
    let (mut ok, mut bad) = (0, 0);
    for path in files {
        let name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
        match import::import_file(&app.store, &app.settings, &path, now).await {
            Ok(_) => {
                let to = dir.join("imported");
                std::fs::create_dir_all(&to).map_err(|e| io("create", &to, e))?;
                std::fs::rename(&path, to.join(&name)).map_err(|e| io("move", &path, e))?;
                ok += 1;
            }
            Err(LetterError::Invalid { problems, file }) => {
                let to = dir.join("refused");
                std::fs::create_dir_all(&to).map_err(|e| io("create", &to, e))?;
                let why = LetterError::Invalid { file, problems }.to_string();
                tracing::warn!(job = JOB, "{why}");
                let mut txt = to.join(&name).into_os_string();
                txt.push(".txt");
                std::fs::write(&txt, format!("{why}\n"))
                    .map_err(|e| io("write", Path::new(&txt), e))?;
                std::fs::rename(&path, to.join(&name)).map_err(|e| io("move", &path, e))?;
                bad += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok((ok, bad))
}

/// The job for the fire at `fire` (see the module docs).
pub async fn run_once(app: &App, fire: Epoch, now: Epoch) -> Result<Outcome, LetterError> {
    let s = &app.settings;
    let mut outcome = Outcome::default();
    if let Some(dir) = &s.letter.inbox {
        (outcome.imported, outcome.refused) = import_inbox(app, dir, now).await?;
    }
    if s.commitments.is_empty() {
        return Ok(outcome);
    }
    if s.smtp.is_none() {
        tracing::warn!(
            job = JOB,
            "no [smtp] section: the letter's forms are not mailed (dondoc letter forms writes them)"
        );
        return Ok(outcome);
    }
    let today = to_local(fire).date_naive();
    let mut mails = Vec::new();
    for p in periods_for(fire) {
        let days_left = (deadline_date(p) - today).num_days();
        if days_left < 0 || days_left > i64::from(s.letter.form_days_before) {
            continue;
        }
        let reminder = days_left <= i64::from(s.letter.remind_days_before);
        let c = status::build(&app.store, s, p, fire).await?;
        for unit in form_units(s, p) {
            if !c.not_returned.contains(&unit) {
                continue;
            }
            if let Some(m) = compose(s, &c, &unit, reminder, today)? {
                mails.push((
                    (if reminder {
                        "letter_remind"
                    } else {
                        "letter_form"
                    })
                    .to_string(),
                    m,
                ));
                if reminder {
                    outcome.reminders.push(unit);
                } else {
                    outcome.forms.push(unit);
                }
            }
        }
    }
    outcome.queued = app.store.commit_digest(&mails, &[], now).await?;
    tracing::info!(
        job = JOB,
        forms = outcome.forms.len(),
        reminders = outcome.reminders.len(),
        queued = outcome.queued,
        imported = outcome.imported,
        refused = outcome.refused,
        "letter forms and reminders"
    );
    Ok(outcome)
}
