//! The points of Decision 766/QĐ-TTg that dossier data can estimate (`../shared/spec/score766.md`),
//! from exact counts, as plain functions over plain data.
//!
//! Choices, written down for officials (docs/score.md says the same in prose):
//! - **Exact, then rounded once.** Every indicator's points are computed from its integer numerator
//!   and denominator in exact rational arithmetic and rounded half up to 2 decimals (hundredths of
//!   a point, "cents" below), as the portal shows scores. A group is the sum of its indicators' shown
//!   points and the unit's estimate the sum of its groups, so that the figures a reader adds up
//!   agree to the last digit.
//! - **0/0 is worth 0.** The spec says so for TDGQ and MDHL; for the other indicators it is silent,
//!   and the portal counts an indicator whose score is unknown as 0: dondoc does the same, shows the
//!   ratio as empty, and says "no dossiers" rather than hiding the row.
//! - **MDHL's population** is H, the population of `late_rate` (dossiers received or handled in the
//!   period): r = 1 − (late + rated unsatisfied) ÷ H, where "rated unsatisfied" are the dossiers
//!   of H whose `DanhGiaHaiLong.MucDo` is not 1 or 2 with `NgayDanhGia` before the horizon. A
//!   dossier both late and unsatisfied is subtracted twice, as the formula reads; r never goes
//!   below 0. The numerator shown is H − late − unsatisfied (at least 0). The part of the
//!   indicator "with PAKN" (citizens' petitions) needs the petition system: it is absent.
//! - **Procedure-level online payment** counts distinct procedures (`MaTTHC`); a parent unit takes
//!   the union of its subtree's procedures, never the sum of its children's counts.
//! - **Estimable maximum.** The indicators of the spec's table are worth 20 + 6 + 2 + 6 + 6 + 6 =
//!   46 points: that is the `estimable_max` dondoc reports (the example says 50; the table
//!   is the rule). The other 54 points are shown as "not estimated" with their maxima.
//! - **Uncertain rules** carry `confirmed: false` (CLGQ's 6-point weight is inferred).
//!
//! Pure: no clock, no I/O, no configuration.

use crate::domain::Tally;
use serde::Serialize;

/// The six groups of the index, in the portal's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Group {
    #[serde(rename = "CKMB")]
    Ckmb,
    #[serde(rename = "TDGQ")]
    Tdgq,
    #[serde(rename = "CLGQ")]
    Clgq,
    #[serde(rename = "TTTT")]
    Tttt,
    #[serde(rename = "MDHL")]
    Mdhl,
    #[serde(rename = "MDSH")]
    Mdsh,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::Ckmb,
        Group::Tdgq,
        Group::Clgq,
        Group::Tttt,
        Group::Mdhl,
        Group::Mdsh,
    ];

    /// The group's code on the portal.
    pub fn code(self) -> &'static str {
        match self {
            Group::Ckmb => "CKMB",
            Group::Tdgq => "TDGQ",
            Group::Clgq => "CLGQ",
            Group::Tttt => "TTTT",
            Group::Mdhl => "MDHL",
            Group::Mdsh => "MDSH",
        }
    }

    pub fn from_code(code: &str) -> Option<Group> {
        Group::ALL
            .into_iter()
            .find(|g| g.code().eq_ignore_ascii_case(code.trim()))
    }

    /// The group's maximum, in hundredths of a point.
    pub fn max_cents(self) -> i64 {
        100 * match self {
            Group::Ckmb => 18,
            Group::Tdgq => 20,
            Group::Clgq => 12,
            Group::Tttt => 10,
            Group::Mdhl => 18,
            Group::Mdsh => 22,
        }
    }

    /// The group's name as the portal writes it.
    pub fn label_vi(self) -> &'static str {
        match self {
            Group::Ckmb => "Công khai, minh bạch",
            Group::Tdgq => "Tiến độ giải quyết",
            Group::Clgq => "Dịch vụ công trực tuyến",
            Group::Tttt => "Thanh toán trực tuyến",
            Group::Mdhl => "Mức độ hài lòng",
            Group::Mdsh => "Số hóa hồ sơ",
        }
    }

    /// What of the group dondoc cannot see, in words.
    pub fn not_estimated_vi(self) -> Option<&'static str> {
        match self {
            Group::Ckmb => Some(
                "cần Cơ sở dữ liệu quốc gia về thủ tục hành chính (công khai thủ tục, đồng bộ hồ sơ lên Cổng)",
            ),
            Group::Tdgq => None,
            Group::Clgq => Some("phần còn lại chưa xác định được cách chia điểm"),
            Group::Tttt => Some("tỷ lệ TTHC cung cấp thanh toán trực tuyến cần danh mục của Cổng"),
            Group::Mdhl => Some("12 điểm về phản ánh, kiến nghị (PAKN) cần hệ thống PAKN"),
            Group::Mdsh => Some("phần còn lại cần cờ số hóa theo từng thành phần hồ sơ"),
        }
    }
}

/// An indicator dondoc estimates (score766.md, "Indicators dondoc estimates").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Indicator {
    /// TDGQ: dossiers handled on time or still within their due date.
    OnTime,
    /// TTTT: dossiers with fees paid online.
    PaidOnline,
    /// TTTT: fee-bearing procedures with at least one dossier paid online.
    ProceduresPaidOnline,
    /// MDHL: satisfaction in receiving and handling dossiers.
    Satisfaction,
    /// MDSH: dossiers with an electronic result.
    ElectronicResult,
    /// CLGQ: dossiers submitted online (uncertain weight).
    OnlineSubmission,
}

/// How an indicator turns a ratio into points: `min(cap, a × n ÷ (b × d))` hundredths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    a: i64,
    b: i64,
    cap: i64,
}

impl Indicator {
    /// In the order of the spec's table.
    pub const ALL: [Indicator; 6] = [
        Indicator::OnTime,
        Indicator::PaidOnline,
        Indicator::ProceduresPaidOnline,
        Indicator::Satisfaction,
        Indicator::ElectronicResult,
        Indicator::OnlineSubmission,
    ];

    pub fn group(self) -> Group {
        match self {
            Indicator::OnTime => Group::Tdgq,
            Indicator::PaidOnline | Indicator::ProceduresPaidOnline => Group::Tttt,
            Indicator::Satisfaction => Group::Mdhl,
            Indicator::ElectronicResult => Group::Mdsh,
            Indicator::OnlineSubmission => Group::Clgq,
        }
    }

    /// The name in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Indicator::OnTime => "on_time",
            Indicator::PaidOnline => "paid_online",
            Indicator::ProceduresPaidOnline => "procedures_paid_online",
            Indicator::Satisfaction => "satisfaction",
            Indicator::ElectronicResult => "electronic_result",
            Indicator::OnlineSubmission => "online_submission",
        }
    }

    /// The indicator as the portal names it.
    pub fn label_vi(self) -> &'static str {
        match self {
            Indicator::OnTime => "Hồ sơ xử lý đúng hạn, trước hạn",
            Indicator::PaidOnline => "Hồ sơ thanh toán trực tuyến",
            Indicator::ProceduresPaidOnline => "TTHC có giao dịch thanh toán trực tuyến",
            Indicator::Satisfaction => "Hài lòng trong tiếp nhận, giải quyết TTHC",
            Indicator::ElectronicResult => "Hồ sơ có kết quả điện tử",
            Indicator::OnlineSubmission => "Hồ sơ nộp trực tuyến",
        }
    }

    /// Whether the spec confirms the rule (CLGQ's weight is inferred).
    pub fn confirmed(self) -> bool {
        !matches!(self, Indicator::OnlineSubmission)
    }

    fn rule(self) -> Rule {
        match self {
            // 20 × r
            Indicator::OnTime => Rule {
                a: 2000,
                b: 1,
                cap: 2000,
            },
            // 6 × r
            Indicator::PaidOnline | Indicator::ElectronicResult => Rule {
                a: 600,
                b: 1,
                cap: 600,
            },
            // min(2, 2.5 × r): full at 80 %
            Indicator::ProceduresPaidOnline => Rule {
                a: 250,
                b: 1,
                cap: 200,
            },
            // min(6, 6 × r ÷ 0.9): full at 90 %
            Indicator::Satisfaction => Rule {
                a: 6000,
                b: 9,
                cap: 600,
            },
            // 6 × min(1, r ÷ 0.5): full at 50 %
            Indicator::OnlineSubmission => Rule {
                a: 1200,
                b: 1,
                cap: 600,
            },
        }
    }

    /// The indicator's maximum, in hundredths of a point.
    pub fn max_cents(self) -> i64 {
        self.rule().cap
    }

    /// The ratio at which the indicator is worth its maximum (1 for the linear ones).
    pub fn full_at(self) -> (i64, i64) {
        match self {
            Indicator::ProceduresPaidOnline => (4, 5),
            Indicator::Satisfaction => (9, 10),
            Indicator::OnlineSubmission => (1, 2),
            _ => (1, 1),
        }
    }

    /// The points of `n` out of `d`, in hundredths, exact then rounded half up; 0 when `d` is 0.
    pub fn points_cents(self, n: i64, d: i64) -> i64 {
        let Rule { a, b, cap } = self.rule();
        if d <= 0 || n <= 0 {
            return 0;
        }
        let (x, y) = (a as i128 * n as i128, b as i128 * d as i128);
        let rounded = (2 * x + y) / (2 * y);
        (rounded as i64).min(cap)
    }
}

/// The counts the score needs for one unit (its subtree): the tally plus the distinct
/// fee-bearing procedures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScoreCounts {
    pub tally: Tally,
    /// Fee-bearing procedures that had dossiers in the window.
    pub fee_procedures: i64,
    /// Of those, procedures with at least one dossier paid online.
    pub fee_procedures_paid: i64,
}

/// An indicator's numerator and denominator from the counts.
pub fn counts_of(ind: Indicator, c: &ScoreCounts) -> (i64, i64) {
    let t = &c.tally;
    match ind {
        Indicator::OnTime => (t.handled - t.late, t.handled),
        Indicator::PaidOnline => (t.paid_online, t.with_fee),
        Indicator::ProceduresPaidOnline => (c.fee_procedures_paid, c.fee_procedures),
        Indicator::Satisfaction => ((t.handled - t.late - t.unsatisfied).max(0), t.handled),
        Indicator::ElectronicResult => (t.digitized, t.results),
        Indicator::OnlineSubmission => (t.received_online, t.received),
    }
}

/// One indicator's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorScore {
    pub indicator: Indicator,
    pub numerator: i64,
    pub denominator: i64,
    pub cents: i64,
}

impl IndicatorScore {
    pub fn ratio(&self) -> Option<f64> {
        (self.denominator > 0).then(|| self.numerator as f64 / self.denominator as f64)
    }
    pub fn lost_cents(&self) -> i64 {
        self.indicator.max_cents() - self.cents
    }
}

/// One group's estimate: `None` when dondoc estimates none of it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupScore {
    pub group: Group,
    pub estimable_max_cents: i64,
    pub estimated_cents: Option<i64>,
}

/// Every indicator and group of one unit's counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub indicators: Vec<IndicatorScore>,
    pub groups: Vec<GroupScore>,
}

impl Estimate {
    /// The sum of the estimated groups, in hundredths.
    pub fn estimated_cents(&self) -> i64 {
        self.groups.iter().filter_map(|g| g.estimated_cents).sum()
    }
    /// What the estimated indicators are worth at most (46 points).
    pub fn estimable_max_cents(&self) -> i64 {
        self.groups.iter().map(|g| g.estimable_max_cents).sum()
    }
    pub fn indicator(&self, ind: Indicator) -> Option<&IndicatorScore> {
        self.indicators.iter().find(|i| i.indicator == ind)
    }
    pub fn group(&self, g: Group) -> Option<&GroupScore> {
        self.groups.iter().find(|x| x.group == g)
    }
}

/// Estimates every indicator and group from one unit's counts.
pub fn estimate(c: &ScoreCounts) -> Estimate {
    let indicators: Vec<IndicatorScore> = Indicator::ALL
        .iter()
        .map(|&ind| {
            let (numerator, denominator) = counts_of(ind, c);
            IndicatorScore {
                indicator: ind,
                numerator,
                denominator,
                cents: ind.points_cents(numerator, denominator),
            }
        })
        .collect();
    let groups = Group::ALL
        .iter()
        .map(|&g| {
            let mine: Vec<&IndicatorScore> = indicators
                .iter()
                .filter(|i| i.indicator.group() == g)
                .collect();
            GroupScore {
                group: g,
                estimable_max_cents: mine.iter().map(|i| i.indicator.max_cents()).sum(),
                estimated_cents: (!mine.is_empty()).then(|| mine.iter().map(|i| i.cents).sum()),
            }
        })
        .collect();
    Estimate { indicators, groups }
}

/// How a unit can win points back within the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WinKind {
    /// `count` more favourable dossiers in the rest of the period (numerator and denominator
    /// both grow).
    More,
    /// `count` existing items fixed (numerator grows, denominator stays).
    Fix,
}

/// One way to win points back, with its concrete count.
#[derive(Debug, Clone, PartialEq)]
pub struct WinBack {
    pub indicator: Indicator,
    pub kind: WinKind,
    pub count: i64,
    /// Points won, in hundredths.
    pub gain_cents: i64,
    /// True when `count` brings the indicator to its maximum.
    pub reaches_max: bool,
}

/// The smallest `k ≥ 0` with `(n + k) ÷ (d + k) ≥ p ÷ q` (p < q), i.e. `k ≥ (p·d − q·n) ÷ (q − p)`.
fn more_needed(n: i64, d: i64, (p, q): (i64, i64)) -> Option<i64> {
    if p >= q {
        // Full only at 100 %: reachable by adding dossiers only if nothing is unfavourable.
        return (n >= d).then_some(0);
    }
    let need = p * d - q * n;
    Some(if need <= 0 {
        0
    } else {
        (need + (q - p) - 1) / (q - p)
    })
}

/// The ways to win points back for one unit's estimate, best first (most points; ties by the
/// smaller count, then the spec's order).
///
/// - `rest`: for each indicator, how many more dossiers of its population the rest of the period
///   is expected to bring (the pace so far; 0 when the period is over). Winning them all is
///   [`WinKind::More`], capped at what reaches the maximum.
/// - Fixes: results without an electronic file can get one (MDSH), and a fee-bearing procedure
///   without any online payment is won by one dossier paid online ([`WinKind::Fix`]).
///
/// Only ways worth at least 0.01 point are listed.
pub fn win_back(e: &Estimate, rest: &dyn Fn(Indicator) -> i64) -> Vec<WinBack> {
    let mut out = Vec::new();
    for s in &e.indicators {
        if s.lost_cents() <= 0 {
            continue;
        }
        let ind = s.indicator;
        let (n, d) = (s.numerator, s.denominator);
        match ind {
            Indicator::ElectronicResult | Indicator::ProceduresPaidOnline => {
                // Fix what exists: the missing ones, or just enough to reach the threshold.
                let (p, q) = ind.full_at();
                let missing = d - n;
                let needed = ((p * d + q - 1) / q - n).clamp(0, missing);
                let count = if needed > 0 { needed } else { missing };
                if count > 0 {
                    let cents = ind.points_cents(n + count, d);
                    out.push(WinBack {
                        indicator: ind,
                        kind: WinKind::Fix,
                        count,
                        gain_cents: cents - s.cents,
                        reaches_max: cents >= ind.max_cents(),
                    });
                }
                if ind == Indicator::ElectronicResult {
                    push_more(&mut out, s, rest(ind));
                }
            }
            _ => push_more(&mut out, s, rest(ind)),
        }
    }
    out.retain(|w| w.gain_cents > 0 && w.count > 0);
    out.sort_by(|a, b| {
        b.gain_cents
            .cmp(&a.gain_cents)
            .then(a.count.cmp(&b.count))
            .then(a.indicator.cmp(&b.indicator))
    });
    out
}

fn push_more(out: &mut Vec<WinBack>, s: &IndicatorScore, rest: i64) {
    let ind = s.indicator;
    let (n, d) = (s.numerator, s.denominator);
    let needed = more_needed(n, d, ind.full_at());
    let count = match needed {
        Some(k) if k <= rest => k,
        _ => rest,
    };
    if count <= 0 {
        return;
    }
    let cents = ind.points_cents(n + count, d + count);
    out.push(WinBack {
        indicator: ind,
        kind: WinKind::More,
        count,
        gain_cents: cents - s.cents,
        reaches_max: cents >= ind.max_cents(),
    });
}

/// Hundredths of a point as a number with 2 decimals (for JSON).
pub fn points(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// A count with Vietnamese thousands separators: 10469 → "10.469".
pub fn count_vi(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Hundredths of a point in Vietnamese: 1568 → "15,68".
pub fn points_vi(cents: i64) -> String {
    let sign = if cents < 0 { "−" } else { "" };
    let c = cents.abs();
    format!("{sign}{},{:02}", c / 100, c % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portals_published_on_time_figure_is_reproduced() {
        // score766.md: 20 × 144625/184513 = 15.68
        assert_eq!(Indicator::OnTime.points_cents(144_625, 184_513), 1568);
    }

    #[test]
    fn thresholds_are_exact() {
        // 80 %: 4 of 5 is full, one less is not
        assert_eq!(Indicator::ProceduresPaidOnline.points_cents(4, 5), 200);
        assert_eq!(Indicator::ProceduresPaidOnline.points_cents(799, 1000), 200); // 1.9975 rounds up
        assert_eq!(Indicator::ProceduresPaidOnline.points_cents(79, 100), 198);
        // 90 %
        assert_eq!(Indicator::Satisfaction.points_cents(9, 10), 600);
        assert_eq!(Indicator::Satisfaction.points_cents(89, 100), 593);
        // 50 %
        assert_eq!(Indicator::OnlineSubmission.points_cents(1, 2), 600);
        assert_eq!(Indicator::OnlineSubmission.points_cents(49, 100), 588);
        // 0/0
        for ind in Indicator::ALL {
            assert_eq!(ind.points_cents(0, 0), 0);
        }
    }

    #[test]
    fn more_needed_is_the_smallest_k() {
        for (n, d, t) in [
            (3, 10, (4, 5)),
            (50, 100, (9, 10)),
            (1, 7, (1, 2)),
            (9, 10, (9, 10)),
        ] {
            let k = more_needed(n, d, t).unwrap();
            assert!((n + k) * t.1 >= t.0 * (d + k));
            assert!(k == 0 || (n + k - 1) * t.1 < t.0 * (d + k - 1));
        }
        assert_eq!(more_needed(3, 4, (1, 1)), None);
    }

    #[test]
    fn win_back_ranks_by_points() {
        let c = ScoreCounts {
            tally: Tally {
                handled: 100,
                late: 10,
                results: 50,
                digitized: 40,
                with_fee: 20,
                paid_online: 5,
                received: 80,
                received_online: 10,
                ..Tally::default()
            },
            fee_procedures: 5,
            fee_procedures_paid: 1,
        };
        let e = estimate(&c);
        let w = win_back(&e, &|_| 20);
        assert!(w.windows(2).all(|p| p[0].gain_cents >= p[1].gain_cents));
        let fix = w
            .iter()
            .find(|x| x.indicator == Indicator::ElectronicResult && x.kind == WinKind::Fix)
            .unwrap();
        assert_eq!((fix.count, fix.gain_cents), (10, 120));
        let procs = w
            .iter()
            .find(|x| x.indicator == Indicator::ProceduresPaidOnline)
            .unwrap();
        // 80 % of 5 procedures = 4: 3 more procedures with an online payment
        assert_eq!((procs.count, procs.reaches_max), (3, true));
    }
}
