//! The simulated city: its catalogue, its units' quality profiles, and every dossier's and
//! document's deterministic life story.
//!
//! Nothing here is stored per record. A dossier `i` is a pure function of (seed, `i`) and the
//! instant of construction: [`dossier_plan`] draws its whole timeline from a splitmix64 stream, and
//! [`dossier_view`] says what the upstream system shows of it at any instant `t` (only the events
//! at or before `t`). The one piece of mutable state, the changes made by
//! [`super::Simulator::touch`], is passed in as a list of [`Touch`]es.
//!
//! This module does no I/O and never reads the clock: every function takes the instant it
//! describes.

use crate::domain::time::{Epoch, format_compact};
use serde::ser::{Serialize, Serializer};

pub(super) const MINUTE: i64 = 60;
pub(super) const HOUR: i64 = 3_600;
pub(super) const DAY: i64 = 86_400;
/// Asia/Ho_Chi_Minh is UTC+7 with no daylight saving.
const OFFSET: i64 = 7 * HOUR;
/// From this instant (1976-05-03) on, Asia/Ho_Chi_Minh has been UTC+7 without exception, so the
/// fast formatter below may be used; earlier instants go through [`format_compact`].
const FIXED_OFFSET_SINCE: i64 = 200_000_000;

/// Share of dossiers and documents filed under a code that no configured unit claims.
pub(super) const UNMAPPED_SHARE: f64 = 0.005;
/// Share of dossiers whose `MaTTHC` is missing from the catalogue.
pub(super) const MISSING_PROCEDURE_SHARE: f64 = 0.003;
/// Share of dossiers and documents deleted upstream (a later event).
pub(super) const DELETED_SHARE: f64 = 0.002;
/// Share of dossiers without `NgayHenTra`.
pub(super) const NO_DUE_SHARE: f64 = 0.005;
/// Share of returned dossiers that the citizen rates.
pub(super) const RATED_SHARE: f64 = 0.30;

/// Largest number of dossiers: `MaHoSo` ends in seven digits.
pub(super) const MAX_DOSSIERS: usize = 9_999_999;
/// Largest number of documents: `MaVanBan` ends in eight digits.
pub(super) const MAX_DOCUMENTS: usize = 99_999_999;

// Independent random streams, so that one decision never shifts another.
const STREAM_DOSSIER: u64 = 1;
const STREAM_PERSON: u64 = 2;
const STREAM_INVALID: u64 = 3;
const STREAM_DOCUMENT: u64 = 4;
const STREAM_UNIT: u64 = 5;
pub(super) const STREAM_TOUCH: u64 = 6;
const STREAM_QUALITY: u64 = 7;

// ---------------------------------------------------------------------------------------------
// Randomness

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small, fast, deterministic generator (splitmix64) keyed by (seed, stream, index).
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64, stream: u64, index: u64) -> Self {
        let mut s = seed ^ stream.wrapping_mul(0xA24B_AED4_963E_E407);
        let a = splitmix(&mut s);
        let mut s2 = a ^ index.wrapping_mul(0x9FB2_1C65_1E98_DF25);
        Rng(splitmix(&mut s2))
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        splitmix(&mut self.0)
    }

    /// Uniform in [0, 1).
    pub(super) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [lo, hi); `lo` when the range is empty.
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below((hi - lo) as u64) as i64
        }
    }

    pub(super) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    pub(super) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// Index of the bucket of `x` in cumulative weights (`cum` ascending, last = total).
fn pick_cumulative(cum: &[f64], x: f64) -> usize {
    let total = cum.last().copied().unwrap_or(0.0);
    let target = x * total;
    cum.partition_point(|&c| c <= target)
        .min(cum.len().saturating_sub(1))
}

// ---------------------------------------------------------------------------------------------
// Local time (UTC+7)

pub(super) fn local_day(t: Epoch) -> i64 {
    (t + OFFSET).div_euclid(DAY)
}

fn local_second_of_day(t: Epoch) -> i64 {
    (t + OFFSET).rem_euclid(DAY)
}

/// The instant of local day `day` (days since 1970-01-01) at `second` of that day.
fn at_local(day: i64, second: i64) -> Epoch {
    day * DAY + second - OFFSET
}

/// 0 = Monday .. 6 = Sunday.
fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

fn is_weekend(day: i64) -> bool {
    weekday(day) >= 5
}

fn next_working_day(mut day: i64) -> i64 {
    day += 1;
    while is_weekend(day) {
        day += 1;
    }
    day
}

fn add_working_days(mut day: i64, n: u32) -> i64 {
    while is_weekend(day) {
        day += 1;
    }
    for _ in 0..n {
        day = next_working_day(day);
    }
    day
}

const OFFICE_OPENS: i64 = 7 * HOUR + 30 * MINUTE;
const OFFICE_CLOSES: i64 = 16 * HOUR + 30 * MINUTE;
const DUE_TIME: i64 = 17 * HOUR;

/// `t` itself during office hours on a working day, otherwise early on the next working day.
fn next_office_time(t: Epoch, r: &mut Rng) -> Epoch {
    let day = local_day(t);
    let sec = local_second_of_day(t);
    if !is_weekend(day) && (OFFICE_OPENS..OFFICE_CLOSES).contains(&sec) {
        return t;
    }
    let next = if !is_weekend(day) && sec < OFFICE_OPENS {
        day
    } else {
        next_working_day(day)
    };
    at_local(next, OFFICE_OPENS + r.range(0, 2 * HOUR))
}

/// A random office-hours instant on the working day of `t` (or the next one).
fn office_time_on(t: Epoch, r: &mut Rng) -> Epoch {
    let mut day = local_day(t);
    while is_weekend(day) {
        day += 1;
    }
    at_local(day, r.range(OFFICE_OPENS, OFFICE_CLOSES))
}

/// Days since 1970-01-01 as (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `yymmdd` of the local date of `t`, as a number.
pub(super) fn yymmdd(t: Epoch) -> u32 {
    let (y, m, d) = civil_from_days(local_day(t));
    (y.rem_euclid(100) as u32) * 10_000 + m * 100 + d
}

/// `yyyyMMddHHmmss` in Asia/Ho_Chi_Minh: the same text as [`format_compact`], faster.
pub(super) fn compact(t: Epoch) -> String {
    if !(FIXED_OFFSET_SINCE..253_402_300_799 - OFFSET).contains(&t) {
        return format_compact(t);
    }
    let (y, mo, d) = civil_from_days(local_day(t));
    let s = local_second_of_day(t);
    let parts = [
        (y as u32 / 100, 2),
        (y as u32 % 100, 2),
        (mo, 2),
        (d, 2),
        ((s / HOUR) as u32, 2),
        ((s % HOUR / MINUTE) as u32, 2),
        ((s % MINUTE) as u32, 2),
    ];
    let mut out = String::with_capacity(14);
    for (v, _) in parts {
        out.push(char::from(b'0' + (v / 10) as u8));
        out.push(char::from(b'0' + (v % 10) as u8));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The catalogue

/// A field (lĩnh vực).
pub(super) struct Field {
    pub code: &'static str,
    pub name: &'static str,
    /// Land, construction or investment: the satisfaction target there is lower, and citizens
    /// there are less often satisfied.
    pub demanding: bool,
}

#[rustfmt::skip]
pub(super) const FIELDS: &[Field] = &[
    Field { code: "G09-DD", name: "Đất đai", demanding: true },
    Field { code: "G09-XD", name: "Hoạt động xây dựng", demanding: true },
    Field { code: "G09-DT", name: "Đầu tư tại Việt Nam", demanding: true },
    Field { code: "G09-HKD", name: "Thành lập và hoạt động của hộ kinh doanh", demanding: false },
    Field { code: "G09-HT", name: "Hộ tịch", demanding: false },
    Field { code: "G09-CT", name: "Chứng thực", demanding: false },
    Field { code: "G09-LDTBXH", name: "Lao động - Thương binh và Xã hội", demanding: false },
    Field { code: "G09-GD", name: "Giáo dục và Đào tạo", demanding: false },
    Field { code: "G09-YT", name: "Y tế - An toàn thực phẩm", demanding: false },
    Field { code: "G09-VH", name: "Văn hóa", demanding: false },
    Field { code: "G09-MT", name: "Môi trường", demanding: false },
    Field { code: "G09-CTH", name: "Lưu thông hàng hóa trong nước", demanding: false },
    Field { code: "G09-TG", name: "Tín ngưỡng, tôn giáo", demanding: false },
    Field { code: "G09-GT", name: "Đường bộ", demanding: false },
];

const DD: usize = 0;
const XD: usize = 1;
const DT: usize = 2;
const HKD: usize = 3;
const HT: usize = 4;
const CT: usize = 5;
const LD: usize = 6;
const GD: usize = 7;
const YT: usize = 8;
const VH: usize = 9;
const MT: usize = 10;
const CTH: usize = 11;
const TG: usize = 12;
const GT: usize = 13;

/// A fee line: (`MaPhiLePhi`, `TenPhiLePhi`, `Gia` in VND).
type Fee = (&'static str, &'static str, u32);

/// A procedure (thủ tục hành chính).
pub(super) struct Procedure {
    pub code: &'static str,
    pub name: &'static str,
    pub field: usize,
    /// `MucDo`: 2, 3 or 4.
    pub level: u8,
    /// Processing time in working days (0: the same day).
    pub days: u32,
    pub fees: &'static [Fee],
    /// Name of the result paper.
    pub result: &'static str,
    /// Relative popularity.
    pub weight: f64,
    /// false for the few codes that dossiers cite but the catalogue lacks.
    pub in_catalogue: bool,
}

#[allow(clippy::too_many_arguments)]
const fn p(
    code: &'static str,
    name: &'static str,
    field: usize,
    level: u8,
    days: u32,
    fees: &'static [Fee],
    result: &'static str,
    weight: f64,
) -> Procedure {
    Procedure {
        code,
        name,
        field,
        level,
        days,
        fees,
        result,
        weight,
        in_catalogue: true,
    }
}

const LP_GCN: Fee = ("LP-GCN", "Lệ phí cấp Giấy chứng nhận", 28_000);
const LP_TD: Fee = (
    "PHI-TDHS",
    "Phí thẩm định hồ sơ cấp Giấy chứng nhận",
    500_000,
);
const LP_GPXD: Fee = ("LP-GPXD", "Lệ phí cấp giấy phép xây dựng", 75_000);
const LP_HKD: Fee = ("LP-HKD", "Lệ phí đăng ký hộ kinh doanh", 100_000);

#[rustfmt::skip]
pub(super) const PROCEDURES: &[Procedure] = &[
    // Đất đai
    p("1.004227.000.00.00.H50", "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất do thay đổi thông tin về người được cấp Giấy chứng nhận", DD, 3, 10, &[LP_GCN], "Giấy chứng nhận quyền sử dụng đất đã xác nhận thay đổi", 6.0),
    p("1.003003.000.00.00.H50", "Đăng ký, cấp Giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở và tài sản khác gắn liền với đất lần đầu", DD, 3, 30, &[LP_GCN, LP_TD], "Giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở và tài sản khác gắn liền với đất", 2.0),
    p("1.002273.000.00.00.H50", "Đăng ký biến động quyền sử dụng đất trong các trường hợp chuyển nhượng, tặng cho, thừa kế quyền sử dụng đất", DD, 3, 10, &[LP_GCN, ("PHI-TDCN", "Phí thẩm định hồ sơ chuyển nhượng", 300_000)], "Giấy chứng nhận quyền sử dụng đất", 4.0),
    p("1.002335.000.00.00.H50", "Cấp đổi Giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở và tài sản khác gắn liền với đất", DD, 4, 7, &[("LP-CD", "Lệ phí cấp đổi Giấy chứng nhận", 50_000)], "Giấy chứng nhận quyền sử dụng đất (cấp đổi)", 2.0),
    p("1.001990.000.00.00.H50", "Chuyển mục đích sử dụng đất phải được phép của cơ quan nhà nước có thẩm quyền đối với hộ gia đình, cá nhân", DD, 3, 15, &[("PHI-CMD", "Phí thẩm định hồ sơ chuyển mục đích", 200_000)], "Quyết định cho phép chuyển mục đích sử dụng đất", 1.0),
    p("1.005398.000.00.00.H50", "Đính chính Giấy chứng nhận đã cấp", DD, 4, 10, &[], "Giấy chứng nhận đã đính chính", 0.5),
    // Hoạt động xây dựng
    p("1.009994.000.00.00.H50", "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ", XD, 4, 15, &[LP_GPXD], "Giấy phép xây dựng", 3.0),
    p("1.009995.000.00.00.H50", "Cấp giấy phép xây dựng sửa chữa, cải tạo đối với công trình, nhà ở riêng lẻ", XD, 4, 15, &[LP_GPXD], "Giấy phép sửa chữa, cải tạo", 1.0),
    p("1.009996.000.00.00.H50", "Cấp điều chỉnh giấy phép xây dựng đối với nhà ở riêng lẻ", XD, 4, 10, &[("LP-DCGP", "Lệ phí điều chỉnh giấy phép xây dựng", 15_000)], "Giấy phép xây dựng điều chỉnh", 0.5),
    p("1.009997.000.00.00.H50", "Gia hạn giấy phép xây dựng đối với nhà ở riêng lẻ", XD, 4, 5, &[("LP-GHGP", "Lệ phí gia hạn giấy phép xây dựng", 15_000)], "Giấy phép xây dựng đã gia hạn", 0.3),
    p("1.009998.000.00.00.H50", "Cấp giấy phép di dời đối với công trình", XD, 3, 15, &[LP_GPXD], "Giấy phép di dời công trình", 0.1),
    // Đầu tư
    p("2.002221.000.00.00.H50", "Thẩm định, phê duyệt báo cáo kinh tế - kỹ thuật đầu tư xây dựng công trình sử dụng vốn đầu tư công", DT, 3, 20, &[], "Quyết định phê duyệt báo cáo kinh tế - kỹ thuật", 0.3),
    p("2.002222.000.00.00.H50", "Điều chỉnh báo cáo kinh tế - kỹ thuật đầu tư xây dựng công trình", DT, 3, 15, &[], "Quyết định phê duyệt điều chỉnh", 0.1),
    // Hộ kinh doanh
    p("2.000720.000.00.00.H50", "Đăng ký thành lập hộ kinh doanh", HKD, 4, 3, &[LP_HKD], "Giấy chứng nhận đăng ký hộ kinh doanh", 3.0),
    p("2.000575.000.00.00.H50", "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh", HKD, 4, 3, &[("LP-TDHKD", "Lệ phí đăng ký thay đổi hộ kinh doanh", 50_000)], "Giấy chứng nhận đăng ký hộ kinh doanh (thay đổi)", 2.0),
    p("2.000644.000.00.00.H50", "Tạm ngừng hoạt động hộ kinh doanh", HKD, 4, 3, &[], "Giấy xác nhận tạm ngừng hoạt động", 0.5),
    p("2.000629.000.00.00.H50", "Chấm dứt hoạt động hộ kinh doanh", HKD, 4, 3, &[], "Thông báo chấm dứt hoạt động hộ kinh doanh", 0.5),
    // Hộ tịch
    p("1.001193.000.00.00.H50", "Đăng ký khai sinh", HT, 4, 0, &[], "Giấy khai sinh", 8.0),
    p("1.000894.000.00.00.H50", "Đăng ký kết hôn", HT, 4, 1, &[], "Giấy chứng nhận kết hôn", 3.0),
    p("1.000656.000.00.00.H50", "Đăng ký khai tử", HT, 4, 1, &[], "Trích lục khai tử", 2.0),
    p("2.000635.000.00.00.H50", "Cấp bản sao trích lục hộ tịch", HT, 4, 0, &[("LP-TL", "Phí cấp bản sao trích lục", 8_000)], "Bản sao trích lục hộ tịch", 5.0),
    p("1.004873.000.00.00.H50", "Cấp Giấy xác nhận tình trạng hôn nhân", HT, 4, 3, &[("LP-XNHN", "Lệ phí cấp giấy xác nhận", 15_000)], "Giấy xác nhận tình trạng hôn nhân", 4.0),
    p("1.004859.000.00.00.H50", "Đăng ký thay đổi, cải chính, bổ sung thông tin hộ tịch", HT, 4, 3, &[("LP-CCHT", "Lệ phí cải chính hộ tịch", 15_000)], "Trích lục thay đổi, cải chính hộ tịch", 1.0),
    // Chứng thực
    p("2.000815.000.00.00.H50", "Chứng thực bản sao từ bản chính giấy tờ, văn bản do cơ quan có thẩm quyền của Việt Nam cấp hoặc chứng nhận", CT, 2, 0, &[("PHI-CTBS", "Phí chứng thực bản sao", 2_000)], "Bản sao có chứng thực", 10.0),
    p("2.000884.000.00.00.H50", "Chứng thực chữ ký trong các giấy tờ, văn bản", CT, 2, 0, &[("PHI-CTCK", "Phí chứng thực chữ ký", 10_000)], "Giấy tờ đã chứng thực chữ ký", 5.0),
    p("2.001035.000.00.00.H50", "Chứng thực hợp đồng, giao dịch liên quan đến tài sản là động sản, quyền sử dụng đất và nhà ở", CT, 2, 2, &[("PHI-CTHD", "Phí chứng thực hợp đồng", 50_000)], "Hợp đồng đã chứng thực", 3.0),
    p("2.000913.000.00.00.H50", "Cấp bản sao có chứng thực từ bản chính hợp đồng, giao dịch đã được chứng thực", CT, 3, 1, &[("PHI-BSHD", "Phí cấp bản sao hợp đồng", 2_000)], "Bản sao hợp đồng có chứng thực", 1.0),
    // Lao động - Thương binh và Xã hội
    p("1.001776.000.00.00.H50", "Thực hiện, điều chỉnh, thôi hưởng trợ cấp xã hội hàng tháng, hỗ trợ kinh phí chăm sóc, nuôi dưỡng hàng tháng", LD, 3, 20, &[], "Quyết định hưởng trợ cấp xã hội", 1.5),
    p("1.010832.000.00.00.H50", "Giải quyết chế độ trợ cấp một lần đối với người được cử làm chuyên gia sang giúp Lào, Căm-pu-chia", LD, 3, 12, &[], "Quyết định trợ cấp một lần", 0.5),
    p("1.003551.000.00.00.H50", "Xác nhận hộ gia đình làm nông nghiệp, lâm nghiệp, ngư nghiệp có mức sống trung bình", LD, 4, 10, &[], "Giấy xác nhận hộ có mức sống trung bình", 1.0),
    // Giáo dục và Đào tạo
    p("1.004494.000.00.00.H50", "Cho phép trường tiểu học hoạt động giáo dục", GD, 3, 20, &[], "Quyết định cho phép hoạt động giáo dục", 0.2),
    p("1.005099.000.00.00.H50", "Chuyển trường đối với học sinh trung học cơ sở", GD, 4, 3, &[], "Giấy giới thiệu chuyển trường", 1.0),
    p("2.001914.000.00.00.H50", "Cấp bản sao văn bằng, chứng chỉ từ sổ gốc", GD, 4, 1, &[], "Bản sao văn bằng", 0.5),
    // Y tế - An toàn thực phẩm
    p("1.001621.000.00.00.H50", "Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm đối với cơ sở sản xuất, kinh doanh thực phẩm", YT, 4, 20, &[("PHI-ATTP", "Phí thẩm định cấp Giấy chứng nhận an toàn thực phẩm", 500_000)], "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", 0.8),
    // Văn hóa
    p("1.001029.000.00.00.H50", "Cấp Giấy phép đủ điều kiện kinh doanh dịch vụ karaoke", VH, 4, 5, &[("PHI-KARA", "Phí thẩm định cấp giấy phép kinh doanh karaoke", 4_000_000)], "Giấy phép đủ điều kiện kinh doanh dịch vụ karaoke", 0.3),
    p("1.003645.000.00.00.H50", "Thông báo tổ chức lễ hội cấp xã", VH, 4, 5, &[], "Văn bản trả lời thông báo tổ chức lễ hội", 0.2),
    // Môi trường
    p("1.010736.000.00.00.H50", "Đăng ký môi trường", MT, 4, 10, &[], "Văn bản tiếp nhận đăng ký môi trường", 0.3),
    // Lưu thông hàng hóa trong nước
    p("2.000633.000.00.00.H50", "Cấp Giấy phép bán lẻ sản phẩm rượu", CTH, 4, 10, &[("PHI-RUOU", "Phí thẩm định cấp giấy phép bán lẻ rượu", 1_100_000)], "Giấy phép bán lẻ sản phẩm rượu", 0.4),
    p("2.000181.000.00.00.H50", "Cấp Giấy phép bán lẻ sản phẩm thuốc lá", CTH, 4, 10, &[("PHI-TL", "Phí thẩm định cấp giấy phép bán lẻ thuốc lá", 1_100_000)], "Giấy phép bán lẻ sản phẩm thuốc lá", 0.3),
    // Tín ngưỡng, tôn giáo
    p("1.001055.000.00.00.H50", "Đăng ký hoạt động tín ngưỡng", TG, 3, 15, &[], "Văn bản chấp thuận đăng ký hoạt động tín ngưỡng", 0.1),
    // Đường bộ
    p("1.001035.000.00.00.H50", "Cấp phép thi công xây dựng công trình thiết yếu trong phạm vi bảo vệ kết cấu hạ tầng giao thông đường bộ của đường bộ đang khai thác", GT, 3, 7, &[], "Giấy phép thi công", 0.3),
    p("1.012345.000.00.00.H50", "Cấp giấy phép sử dụng tạm thời một phần lòng đường, vỉa hè", GT, 4, 5, &[("LP-VH", "Phí sử dụng tạm thời lòng đường, vỉa hè", 20_000)], "Giấy phép sử dụng tạm thời lòng đường, vỉa hè", 0.4),
    // Cited by dossiers, missing from the catalogue (a data-quality problem the client counts).
    Procedure { code: "1.099901.000.00.00.H50", name: "Thủ tục đã bãi bỏ", field: HT, level: 3, days: 3, fees: &[], result: "Kết quả giải quyết", weight: 0.0, in_catalogue: false },
    Procedure { code: "2.099902.000.00.00.H50", name: "Thủ tục chưa công bố", field: CT, level: 3, days: 1, fees: &[], result: "Kết quả giải quyết", weight: 0.0, in_catalogue: false },
];

fn missing_procedures() -> std::ops::Range<usize> {
    let first = PROCEDURES
        .iter()
        .position(|p| !p.in_catalogue)
        .unwrap_or(PROCEDURES.len());
    first..PROCEDURES.len()
}

// ---------------------------------------------------------------------------------------------
// Units and their quality

/// How well a unit does against metrics.md's default targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quality {
    /// Meets every default target comfortably.
    Good,
    /// Hovers around the targets: meets some, misses others narrowly.
    Borderline,
    /// Clearly misses several targets.
    Bad,
}

/// The probabilities that drive a unit's dossiers and documents.
#[derive(Clone, Debug)]
pub(super) struct Profile {
    pub quality: Quality,
    /// A received dossier ends after its due date.
    pub late: f64,
    /// A late dossier gets an apology slip.
    pub apology: f64,
    /// A result is digitized.
    pub digitized: f64,
    /// A MucDo-4 dossier is filed online.
    pub online: f64,
    /// A dossier with fees is paid online (1 or 2).
    pub pay_online: f64,
    /// A rating is "not satisfied" (times 4 in land, construction and investment).
    pub unsatisfied: f64,
    /// An incoming document is processed on the system.
    pub edoc: f64,
    /// An outgoing document is signed digitally.
    pub esign: f64,
    /// Longest delay of a late dossier, in days.
    pub max_delay_days: f64,
}

impl Profile {
    fn new(quality: Quality, r: &mut Rng) -> Self {
        let (lo, hi) = match quality {
            Quality::Good => (
                [0.002, 1.00, 0.996, 0.84, 0.72, 0.001, 0.88, 0.95, 2.0],
                [0.004, 1.00, 0.999, 0.92, 0.85, 0.003, 0.96, 0.99, 4.0],
            ),
            Quality::Borderline => (
                [0.008, 0.85, 0.985, 0.64, 0.55, 0.006, 0.76, 0.85, 3.0],
                [0.016, 0.97, 0.995, 0.76, 0.66, 0.014, 0.85, 0.93, 6.0],
            ),
            Quality::Bad => (
                [0.05, 0.30, 0.80, 0.30, 0.25, 0.03, 0.45, 0.60, 10.0],
                [0.10, 0.60, 0.92, 0.50, 0.45, 0.06, 0.65, 0.80, 25.0],
            ),
        };
        let mut v = [0.0; 9];
        for k in 0..9 {
            v[k] = r.uniform(lo[k], hi[k]);
        }
        Profile {
            quality,
            late: v[0],
            apology: v[1],
            digitized: v[2],
            online: v[3],
            pay_online: v[4],
            unsatisfied: v[5],
            edoc: v[6],
            esign: v[7],
            max_delay_days: v[8],
        }
    }
}

/// An upstream unit code as the simulator files records under it.
pub(super) struct Code {
    pub code: String,
    /// The code as the first part of `MaHoSo` (`-` replaced by `.`, so that the key's text order
    /// follows (prefix, date, number)).
    pub key_prefix: String,
    /// Dense rank of `key_prefix + "-"` among all prefixes.
    pub rank: u64,
    /// Index into [`World::profiles`].
    pub profile: usize,
}

/// Everything fixed at construction: the catalogue, the codes, the profiles, the time span.
pub(super) struct World {
    pub seed: u64,
    /// The local midnight at or before the construction instant: the anchor of the span.
    pub built_at: Epoch,
    /// Records are spread over [start, end).
    pub start: Epoch,
    pub end: Epoch,
    pub dossiers: u32,
    pub documents: u32,
    /// One-stop codes; the last one is the unmapped code.
    pub codes: Vec<Code>,
    pub code_cum: Vec<f64>,
    /// Document-system codes; the last one is the unmapped code.
    pub doc_codes: Vec<Code>,
    pub doc_code_cum: Vec<f64>,
    /// One profile per configured unit, then one for the unmapped codes.
    pub profiles: Vec<Profile>,
    pub procedure_cum: Vec<f64>,
}

/// A configured unit's (one-stop codes, document-system codes).
pub(super) type UnitCodes = (Vec<String>, Vec<String>);

/// Unit codes that a simulated record may carry although no unit claims them.
const UNMAPPED_CANDIDATES: &[&str] = &[
    "000.99.99.H50",
    "000.99.98.H50",
    "000.99.97.H50",
    "000.99.96.H50",
    "000.99.95.H50",
];

fn unmapped_code(claimed: &std::collections::HashSet<&str>) -> String {
    for c in UNMAPPED_CANDIDATES {
        if !claimed.contains(c) {
            return (*c).to_string();
        }
    }
    let mut n = 0u32;
    loop {
        let c = format!("KHONG-RO-{n}");
        if !claimed.contains(c.as_str()) {
            return c;
        }
        n += 1;
    }
}

impl World {
    pub(super) fn new(
        seed: u64,
        built_at: Epoch,
        history_days: u32,
        dossiers: u32,
        documents: u32,
        units: &[UnitCodes],
    ) -> Self {
        // Anchored at the local midnight of the construction day, so that simulators built on
        // the same day with the same seed (e.g. successive `dondoc sync` runs) serve one city.
        let built_at = at_local(local_day(built_at), 0);
        let history = i64::from(history_days.max(1)) * DAY;
        let start = built_at - history;
        let end = built_at + history / 4;

        // Quality: a third each, over the units that hold any code, shuffled by the seed.
        let mut eligible: Vec<usize> = (0..units.len())
            .filter(|&u| !units[u].0.is_empty() || !units[u].1.is_empty())
            .collect();
        let mut qr = Rng::new(seed, STREAM_QUALITY, 0);
        for k in (1..eligible.len()).rev() {
            let j = qr.below(k as u64 + 1) as usize;
            eligible.swap(k, j);
        }
        let mut quality = vec![Quality::Borderline; units.len()];
        for (pos, &u) in eligible.iter().enumerate() {
            quality[u] = match pos * 3 / eligible.len() {
                0 => Quality::Good,
                1 => Quality::Borderline,
                _ => Quality::Bad,
            };
        }
        let mut profiles: Vec<Profile> = (0..units.len())
            .map(|u| Profile::new(quality[u], &mut Rng::new(seed, STREAM_UNIT, u as u64)))
            .collect();
        let unmapped_profile = profiles.len();
        profiles.push(Profile::new(
            Quality::Borderline,
            &mut Rng::new(seed, STREAM_UNIT, u64::MAX),
        ));

        let build = |pick: &dyn Fn(&UnitCodes) -> &Vec<String>| {
            let mut claimed = std::collections::HashSet::new();
            let mut codes: Vec<Code> = Vec::new();
            let mut weights: Vec<f64> = Vec::new();
            for (u, unit) in units.iter().enumerate() {
                let own: Vec<&String> = pick(unit)
                    .iter()
                    .filter(|c| !c.trim().is_empty() && claimed.insert(c.as_str()))
                    .collect();
                if own.is_empty() {
                    continue;
                }
                // Uneven sizes: a few large agencies, many small wards.
                let x = Rng::new(seed, STREAM_UNIT, u as u64 ^ 0x5151).f64();
                let unit_weight = 0.2 + 3.0 * x * x;
                for c in &own {
                    codes.push(Code {
                        code: (*c).clone(),
                        key_prefix: c.replace('-', "."),
                        rank: 0,
                        profile: u,
                    });
                    weights.push(unit_weight / own.len() as f64);
                }
            }
            let un = unmapped_code(&claimed);
            codes.push(Code {
                key_prefix: un.replace('-', "."),
                code: un,
                rank: 0,
                profile: unmapped_profile,
            });
            let mut cum = Vec::with_capacity(weights.len());
            let mut acc = 0.0;
            for w in weights {
                acc += w;
                cum.push(acc);
            }
            let mut prefixes: Vec<String> =
                codes.iter().map(|c| format!("{}-", c.key_prefix)).collect();
            prefixes.sort();
            prefixes.dedup();
            for c in &mut codes {
                let key = format!("{}-", c.key_prefix);
                c.rank = prefixes.binary_search(&key).unwrap_or(0) as u64;
            }
            (codes, cum)
        };
        let (codes, code_cum) = build(&|u| &u.0);
        let (doc_codes, doc_code_cum) = build(&|u| &u.1);

        let mut procedure_cum = Vec::with_capacity(PROCEDURES.len());
        let mut acc = 0.0;
        for p in PROCEDURES.iter().filter(|p| p.in_catalogue) {
            acc += p.weight;
            procedure_cum.push(acc);
        }

        World {
            seed,
            built_at,
            start,
            end,
            dossiers,
            documents,
            codes,
            code_cum,
            doc_codes,
            doc_code_cum,
            profiles,
            procedure_cum,
        }
    }

    /// The quality of configured unit `u`.
    pub(super) fn quality(&self, u: usize) -> Option<Quality> {
        if u + 1 < self.profiles.len() {
            Some(self.profiles[u].quality)
        } else {
            None
        }
    }

    fn unmapped(&self) -> usize {
        self.codes.len() - 1
    }
}

// ---------------------------------------------------------------------------------------------
// Dossiers

/// How a dossier's story ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Processed (9), usually returned (10).
    Normal,
    /// Not accepted (3) at `refused`.
    Refused,
    /// Withdrawn by the citizen (7).
    Withdrawn(Epoch),
    /// Processing stopped (8): `end` is set to the same instant.
    Stopped,
    /// An online registration never received (stays 1).
    Abandoned,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Supplement {
    pub requested: Epoch,
    pub supplied: Epoch,
    pub new_due: Epoch,
}

/// The whole life of dossier `i`, drawn once from (seed, i).
#[derive(Clone, Debug)]
pub(super) struct DossierPlan {
    pub i: u32,
    pub code: usize,
    pub procedure: usize,
    /// `KenhThucHien`: 1 direct, 2 online, 3 postal.
    pub channel: u8,
    /// `DuocThanhToanTrucTuyen` once received.
    pub paid: u8,
    /// Codes as strings of digits instead of numbers.
    pub string_codes: bool,
    /// Absent dates as `null` instead of `""`.
    pub null_dates: bool,
    /// `DaXoa`: 0 absent, 1 a number, 2 a string.
    pub daxoa_style: u8,
    /// `Gia` as a numeric string.
    pub fee_as_string: bool,
    /// First appearance upstream (registration online, reception otherwise).
    pub appear: Epoch,
    pub received: Option<Epoch>,
    pub refused: Option<Epoch>,
    pub outcome: Outcome,
    /// Processing started (status 4).
    pub started: Option<Epoch>,
    /// `NgayHenTra`.
    pub due: Option<Epoch>,
    pub supplement: Option<Supplement>,
    /// Processing ended: `NgayKetThucXuLy` (9), or the stop (8).
    pub end: Option<Epoch>,
    /// `NgayTra` (10).
    pub returned: Option<Epoch>,
    /// (issued, new appointment).
    pub apology: Option<(Epoch, Epoch)>,
    /// (MucDo, NgayDanhGia).
    pub rating: Option<(u8, Epoch)>,
    pub deleted: Option<Epoch>,
    pub digitized: bool,
    pub two_papers: bool,
    /// Position of the key in text order: (prefix rank, yymmdd, i).
    pub order: u64,
}

/// `i` of a dossier's order key.
pub(super) fn order_index(order: u64) -> u32 {
    (order & 0xFF_FFFF) as u32
}

pub(super) fn dossier_plan(w: &World, i: u32) -> DossierPlan {
    let mut r = Rng::new(w.seed, STREAM_DOSSIER, u64::from(i));
    let code = if w.code_cum.is_empty() || r.chance(UNMAPPED_SHARE) {
        w.unmapped()
    } else {
        pick_cumulative(&w.code_cum, r.f64())
    };
    let prof = &w.profiles[w.codes[code].profile];
    let procedure = if r.chance(MISSING_PROCEDURE_SHARE) {
        let m = missing_procedures();
        m.start + r.below(m.len() as u64) as usize
    } else {
        pick_cumulative(&w.procedure_cum, r.f64())
    };
    let proc_ = &PROCEDURES[procedure];
    let field = &FIELDS[proc_.field];
    let channel = match proc_.level {
        4 => {
            if r.chance(prof.online) {
                2
            } else if r.chance(0.05) {
                3
            } else {
                1
            }
        }
        3 => {
            if r.chance(0.3) {
                2
            } else if r.chance(0.03) {
                3
            } else {
                1
            }
        }
        _ => {
            if r.chance(0.03) {
                3
            } else {
                1
            }
        }
    };
    let style = r.next_u64();
    let string_codes = style % 100 < 35;
    let null_dates = (style >> 8) % 100 < 30;
    let daxoa_style = match (style >> 16) % 10 {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    };
    let fee_as_string = (style >> 24) % 100 < 40;

    let base = r.range(w.start, w.end);
    let (appear, reception) = if channel == 2 {
        (
            base,
            next_office_time(base + r.range(10 * MINUTE, 20 * HOUR), &mut r),
        )
    } else {
        let t = office_time_on(base, &mut r);
        (t, t)
    };

    let u = r.f64();
    let outcome = if channel == 2 && u < 0.005 {
        Outcome::Abandoned
    } else if u < 0.025 {
        Outcome::Refused
    } else if u < 0.035 {
        Outcome::Withdrawn(0)
    } else if u < 0.045 {
        Outcome::Stopped
    } else {
        Outcome::Normal
    };

    let mut plan = DossierPlan {
        i,
        code,
        procedure,
        channel,
        paid: 0,
        string_codes,
        null_dates,
        daxoa_style,
        fee_as_string,
        appear,
        received: None,
        refused: None,
        outcome,
        started: None,
        due: None,
        supplement: None,
        end: None,
        returned: None,
        apology: None,
        rating: None,
        deleted: None,
        digitized: false,
        two_papers: false,
        order: 0,
    };
    plan.order = (w.codes[code].rank << 44) | (u64::from(yymmdd(appear)) << 24) | u64::from(i);

    match outcome {
        Outcome::Abandoned => {}
        Outcome::Refused => {
            // Refused at the counter at once, or online after a look at the file.
            plan.refused = Some(if channel == 2 { reception } else { appear });
        }
        _ => {
            let recv = reception;
            plan.received = Some(recv);
            if !proc_.fees.is_empty() {
                plan.paid = if r.chance(prof.pay_online) {
                    if r.chance(0.5) { 1 } else { 2 }
                } else if r.chance(0.1) {
                    3
                } else {
                    0
                };
            }
            let due = if r.chance(NO_DUE_SHARE) {
                None
            } else {
                Some(at_local(
                    add_working_days(local_day(recv), proc_.days),
                    DUE_TIME,
                ))
            };
            plan.due = due;
            let nominal = due.unwrap_or(recv + (i64::from(proc_.days) * 7 / 5 + 1) * DAY);
            let supp_share = if field.demanding { 0.15 } else { 0.06 };
            if outcome == Outcome::Normal
                && due.is_some()
                && proc_.days >= 2
                && r.chance(supp_share)
            {
                let requested = recv + ((nominal - recv) as f64 * r.uniform(0.1, 0.5)) as i64;
                let wait = r.range(DAY, 10 * DAY);
                let supplied = requested + wait;
                let new_due = nominal + (wait / DAY + 2) * DAY;
                plan.supplement = Some(Supplement {
                    requested,
                    supplied,
                    new_due,
                });
            }
            let effective_due = plan.supplement.map_or(nominal, |s| s.new_due);
            let work_from = plan.supplement.map_or(recv, |s| s.supplied);
            match outcome {
                Outcome::Withdrawn(_) => {
                    let x = recv + ((nominal - recv) as f64 * r.uniform(0.1, 0.9)) as i64;
                    let x = x.max(recv + 20 * MINUTE);
                    plan.outcome = Outcome::Withdrawn(x);
                    plan.started = Some(recv + ((x - recv) / 4).min(4 * HOUR));
                }
                Outcome::Stopped => {
                    let x = recv + ((nominal - recv) as f64 * r.uniform(0.1, 0.9)) as i64;
                    let x = x.max(recv + 20 * MINUTE);
                    plan.end = Some(x);
                    plan.started = Some(recv + ((x - recv) / 4).min(4 * HOUR));
                }
                _ => {
                    let late = due.is_some() && r.chance(prof.late);
                    let end = if late {
                        effective_due + r.range(2 * HOUR, (prof.max_delay_days * DAY as f64) as i64)
                    } else {
                        let span = (effective_due - work_from).max(0);
                        let e = work_from + (span as f64 * r.uniform(0.25, 0.97)) as i64;
                        e.max(work_from + 10 * MINUTE)
                            .min(effective_due.max(work_from + 10 * MINUTE))
                    };
                    plan.end = Some(end);
                    let first_step = plan.supplement.map_or(end, |s| s.requested);
                    plan.started =
                        Some(recv + ((first_step - recv) / 3).min(r.range(10 * MINUTE, 36 * HOUR)));
                    if late && r.chance(prof.apology) {
                        let issued = (effective_due - r.range(0, 36 * HOUR))
                            .max(recv + 10 * MINUTE)
                            .min(end - MINUTE);
                        plan.apology = Some((issued, end + DAY));
                    }
                    plan.digitized = r.chance(prof.digitized);
                    plan.two_papers = r.chance(0.2);
                    if r.chance(0.93) {
                        let wait = if proc_.days == 0 {
                            r.range(10 * MINUTE, 2 * HOUR)
                        } else {
                            r.range(10 * MINUTE, 3 * DAY)
                        };
                        let ret = end + wait;
                        plan.returned = Some(ret);
                        if r.chance(RATED_SHARE) {
                            let unsat = if field.demanding {
                                prof.unsatisfied * 4.0
                            } else {
                                prof.unsatisfied
                            };
                            let level = if r.chance(unsat) {
                                3
                            } else if r.chance(0.6) {
                                1
                            } else {
                                2
                            };
                            plan.rating = Some((level, ret + r.range(5 * MINUTE, 3 * DAY)));
                        }
                    }
                }
            }
        }
    }
    if r.chance(DELETED_SHARE) {
        let last = plan.events().into_iter().flatten().max().unwrap_or(appear);
        plan.deleted = Some(last + r.range(HOUR, 30 * DAY));
    }
    plan
}

impl DossierPlan {
    /// Every instant at which the record changes.
    fn events(&self) -> [Option<Epoch>; 13] {
        [
            Some(self.appear),
            self.received,
            self.refused,
            self.started,
            self.supplement.map(|s| s.requested),
            self.supplement.map(|s| s.supplied),
            match self.outcome {
                Outcome::Withdrawn(x) => Some(x),
                _ => None,
            },
            self.end,
            self.returned,
            self.apology.map(|a| a.0),
            self.rating.map(|r| r.1),
            self.deleted,
            None,
        ]
    }

    /// The record's state at `t` from its own story alone; `None` before it appears.
    fn natural_view(&self, t: Epoch) -> Option<View> {
        if t < self.appear {
            return None;
        }
        let at = |x: Option<Epoch>| x.filter(|&x| x <= t);
        let mut v = View {
            status: 1,
            received: None,
            due: None,
            supplement: None,
            end: None,
            returned: None,
            papers: false,
            apologies: Vec::new(),
            rating: None,
            deleted: at(self.deleted).is_some(),
            updated: self
                .events()
                .into_iter()
                .flatten()
                .filter(|&x| x <= t)
                .max()
                .unwrap_or(self.appear),
        };
        if at(self.refused).is_some() {
            v.status = 3;
            return Some(v);
        }
        let Some(recv) = at(self.received) else {
            return Some(v);
        };
        v.status = 2;
        v.received = Some(recv);
        v.due = self.due;
        if at(self.started).is_some() {
            v.status = 4;
        }
        if let Some(s) = self.supplement.filter(|s| s.requested <= t) {
            v.supplement = Some(s);
            v.status = if s.supplied <= t { 4 } else { 5 };
        }
        if let Some(a) = self.apology.filter(|a| a.0 <= t) {
            v.apologies.push(a);
        }
        match self.outcome {
            Outcome::Withdrawn(x) if x <= t => v.status = 7,
            Outcome::Stopped if at(self.end).is_some() => {
                v.status = 8;
                v.end = self.end;
            }
            Outcome::Normal => {
                if at(self.end).is_some() {
                    v.status = 9;
                    v.end = self.end;
                    v.papers = true;
                }
                if at(self.returned).is_some() {
                    v.status = 10;
                    v.returned = self.returned;
                }
                v.rating = at(self.rating.map(|r| r.1)).and(self.rating);
            }
            _ => {}
        }
        Some(v)
    }
}

/// A change made by [`super::Simulator::touch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TouchAction {
    /// Processing ends now (status 9).
    Finish,
    /// The result is handed back now (status 10).
    Return,
    /// The citizen rates now (MucDo).
    Rate(u8),
    /// An apology slip is issued now.
    Apologize,
    /// The dossier is deleted now.
    Delete,
    /// The record is edited upstream now (e.g. a correction): only `NgayCapNhat` moves, and
    /// unlike the other actions its own story goes on afterwards.
    Edit,
}

impl TouchAction {
    /// Whether the action ends the dossier's own story (its later natural events are dropped).
    fn takes_over(self) -> bool {
        self != TouchAction::Edit
    }
}

/// The instant from which a touched dossier's natural events are dropped.
fn takeover(touches: &[Touch]) -> Option<Epoch> {
    touches.iter().find(|x| x.action.takes_over()).map(|x| x.at)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Touch {
    pub at: Epoch,
    pub action: TouchAction,
}

/// What the one-stop system shows of a dossier at one instant.
#[derive(Clone, Debug)]
pub(super) struct View {
    pub status: u8,
    pub received: Option<Epoch>,
    /// `NgayHenTra`.
    pub due: Option<Epoch>,
    pub supplement: Option<Supplement>,
    pub end: Option<Epoch>,
    pub returned: Option<Epoch>,
    pub papers: bool,
    pub apologies: Vec<(Epoch, Epoch)>,
    pub rating: Option<(u8, Epoch)>,
    pub deleted: bool,
    /// `NgayCapNhat`.
    pub updated: Epoch,
}

impl View {
    /// The effective due date of metrics.md (the latest of NgayHenTra and NgayHenTraMoi).
    pub(super) fn effective_due(&self) -> Option<Epoch> {
        match (self.due, self.supplement) {
            (Some(d), Some(s)) => Some(d.max(s.new_due)),
            (d, _) => d,
        }
    }
}

/// The dossier at `t`, with the touches made to it (in the order they were made).
/// Natural events after the first touch that changes the dossier's state are dropped: its story
/// stops there.
pub(super) fn dossier_view(plan: &DossierPlan, touches: &[Touch], t: Epoch) -> Option<View> {
    let cut = takeover(touches).map_or(t, |at| at.min(t));
    let mut v = plan.natural_view(cut)?;
    for tc in touches.iter().filter(|x| x.at <= t) {
        match tc.action {
            TouchAction::Finish => {
                v.status = 9;
                v.end = Some(tc.at);
                v.papers = true;
            }
            TouchAction::Return => {
                v.status = 10;
                v.returned = Some(tc.at);
            }
            TouchAction::Rate(level) => v.rating = Some((level, tc.at)),
            TouchAction::Apologize => v.apologies.push((tc.at, tc.at + 3 * DAY)),
            TouchAction::Delete => v.deleted = true,
            TouchAction::Edit => {}
        }
        v.updated = v.updated.max(tc.at);
    }
    Some(v)
}

/// The first instant after `t` at which the dossier changes, if any.
pub(super) fn dossier_next_event(plan: &DossierPlan, touches: &[Touch], t: Epoch) -> Option<Epoch> {
    let limit = takeover(touches).unwrap_or(Epoch::MAX);
    let natural = plan
        .events()
        .into_iter()
        .flatten()
        .filter(|&x| x > t && x <= limit)
        .min();
    let touched = touches.iter().map(|x| x.at).filter(|&x| x > t).min();
    match (natural, touched) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How a dossier is served invalid (faults.invalid_share), if it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Invalid {
    /// `NgayTiepNhan` = "2024-13-45".
    BadDate,
    /// `TrangThaiHoSo` = 42.
    BadStatus,
    /// No `MaTTHC`.
    NoProcedure,
    /// `TrangThaiHoSo` = 10 with neither `NgayKetThucXuLy` nor `NgayTra`.
    FinishedWithoutEnd,
}

/// The same dossiers for the same seed and share; never a deleted one (a tombstone is valid).
pub(super) fn invalid_kind(w: &World, plan: &DossierPlan, share: f64) -> Option<Invalid> {
    if share <= 0.0 || plan.deleted.is_some() {
        return None;
    }
    let mut r = Rng::new(w.seed, STREAM_INVALID, u64::from(plan.i));
    if !r.chance(share) {
        return None;
    }
    Some(match r.below(4) {
        0 => Invalid::BadDate,
        1 => Invalid::BadStatus,
        2 => Invalid::NoProcedure,
        _ => Invalid::FinishedWithoutEnd,
    })
}

/// `MaHoSo` of a plan.
pub(super) fn dossier_key(w: &World, plan: &DossierPlan) -> String {
    format!(
        "{}-{:06}-{:07}",
        w.codes[plan.code].key_prefix,
        yymmdd(plan.appear),
        plan.i
    )
}

/// The order key of a `MaHoSo`, if the simulator could have issued it.
pub(super) fn dossier_order_of_key(w: &World, key: &str) -> Option<u64> {
    let (_, tail) = key.rsplit_once('-')?;
    if tail.len() != 7 || !tail.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let i: u32 = tail.parse().ok()?;
    if i >= w.dossiers {
        return None;
    }
    let plan = dossier_plan(w, i);
    (dossier_key(w, &plan) == key).then_some(plan.order)
}

// ---------------------------------------------------------------------------------------------
// JSON shapes

/// A code as a JSON number or a string of digits.
#[derive(Clone, Copy, Debug)]
pub(super) struct CodeOut {
    value: i64,
    as_string: bool,
}

impl Serialize for CodeOut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.as_string {
            s.serialize_str(&self.value.to_string())
        } else {
            s.serialize_i64(self.value)
        }
    }
}

fn code(value: i64, as_string: bool) -> CodeOut {
    CodeOut { value, as_string }
}

/// A date: `yyyyMMddHHmmss`, or absent as `""` or `null`, or deliberately broken text.
#[derive(Clone, Copy, Debug)]
pub(super) enum DateOut {
    At(Epoch),
    Empty,
    Null,
    Raw(&'static str),
}

impl Serialize for DateOut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DateOut::At(t) => s.serialize_str(&compact(*t)),
            DateOut::Empty => s.serialize_str(""),
            DateOut::Null => s.serialize_unit(),
            DateOut::Raw(x) => s.serialize_str(x),
        }
    }
}

fn date(t: Option<Epoch>, null: bool) -> DateOut {
    match (t, null) {
        (Some(t), _) => DateOut::At(t),
        (None, true) => DateOut::Null,
        (None, false) => DateOut::Empty,
    }
}

#[derive(Clone, Copy, Debug)]
struct AmountOut {
    value: u32,
    as_string: bool,
}

impl Serialize for AmountOut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.as_string {
            s.serialize_str(&self.value.to_string())
        } else {
            s.serialize_u32(self.value)
        }
    }
}

#[derive(serde::Serialize)]
struct FeeOut {
    #[serde(rename = "MaPhiLePhi")]
    code: &'static str,
    #[serde(rename = "TenPhiLePhi")]
    name: &'static str,
    #[serde(rename = "Gia")]
    amount: AmountOut,
}

#[derive(serde::Serialize)]
struct PaperOut {
    #[serde(rename = "MaGiayToKetQua")]
    code: String,
    #[serde(rename = "TenGiayTo")]
    name: &'static str,
    #[serde(rename = "DuongDanTepTinKetQua")]
    link: String,
}

#[derive(serde::Serialize)]
struct SupplementOut {
    #[serde(rename = "NgayBoSung")]
    requested: DateOut,
    #[serde(rename = "NgayHenTraTruoc")]
    before: DateOut,
    #[serde(rename = "NgayHenTraMoi")]
    new_due: DateOut,
}

#[derive(serde::Serialize)]
struct ApologyOut {
    #[serde(rename = "SoPhieu")]
    number: String,
    #[serde(rename = "NgayBanHanh")]
    issued: DateOut,
    #[serde(rename = "NgayHenTraMoi")]
    new_due: DateOut,
}

#[derive(serde::Serialize)]
struct RatingOut {
    #[serde(rename = "MucDo")]
    level: CodeOut,
    #[serde(rename = "NgayDanhGia")]
    at: DateOut,
}

/// One `/ho-so` record.
#[derive(serde::Serialize)]
pub(super) struct DossierOut<'a> {
    #[serde(rename = "MaHoSo")]
    key: String,
    #[serde(rename = "MaTTHC", skip_serializing_if = "Option::is_none")]
    procedure: Option<&'static str>,
    #[serde(rename = "TenTTHC")]
    procedure_name: &'static str,
    #[serde(rename = "MaLinhVuc")]
    field: &'static str,
    #[serde(rename = "DonViXuLy")]
    unit: &'a str,
    #[serde(rename = "KenhThucHien")]
    channel: CodeOut,
    #[serde(rename = "TrangThaiHoSo")]
    status: CodeOut,
    #[serde(rename = "NgayTiepNhan")]
    received: DateOut,
    #[serde(rename = "NgayHenTra")]
    due: DateOut,
    #[serde(rename = "NgayKetThucXuLy")]
    end: DateOut,
    #[serde(rename = "NgayTra")]
    returned: DateOut,
    #[serde(rename = "DuocThanhToanTrucTuyen")]
    paid: CodeOut,
    #[serde(rename = "DanhSachLePhi")]
    fees: Vec<FeeOut>,
    #[serde(rename = "DanhSachGiayToKetQua")]
    papers: Vec<PaperOut>,
    #[serde(rename = "DanhSachHoSoBoSung")]
    supplements: Vec<SupplementOut>,
    #[serde(rename = "DanhSachPhieuXinLoi")]
    apologies: Vec<ApologyOut>,
    #[serde(rename = "DanhGiaHaiLong", skip_serializing_if = "Rating::is_absent")]
    rating: Rating,
    #[serde(rename = "NgayCapNhat")]
    updated: DateOut,
    #[serde(rename = "DaXoa", skip_serializing_if = "Option::is_none")]
    deleted: Option<CodeOut>,
    #[serde(rename = "ChuHoSo")]
    owner: String,
    #[serde(rename = "SoGiayToChuHoSo")]
    owner_id: String,
    #[serde(rename = "SoDienThoai")]
    phone: String,
    #[serde(rename = "Email")]
    email: String,
    #[serde(rename = "DiaChi")]
    address: String,
    #[serde(rename = "DinhDanhCHS")]
    owner_ident: String,
}

enum Rating {
    Absent,
    Null,
    Given(RatingOut),
}

impl Rating {
    fn is_absent(&self) -> bool {
        matches!(self, Rating::Absent)
    }
}

impl Serialize for Rating {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Rating::Absent | Rating::Null => s.serialize_unit(),
            Rating::Given(r) => r.serialize(s),
        }
    }
}

/// The record of a dossier as `/ho-so` serves it at the instant `view` describes.
pub(super) fn render_dossier<'a>(
    w: &'a World,
    plan: &DossierPlan,
    view: &View,
    invalid: Option<Invalid>,
) -> DossierOut<'a> {
    let proc_ = &PROCEDURES[plan.procedure];
    let sc = plan.string_codes;
    let nd = plan.null_dates;
    let key = dossier_key(w, plan);
    let invalid = invalid.filter(|_| !view.deleted);
    let person = person(w.seed, plan.i);

    let fees = proc_
        .fees
        .iter()
        .map(|&(code, name, amount)| FeeOut {
            code,
            name,
            amount: AmountOut {
                value: amount,
                as_string: plan.fee_as_string,
            },
        })
        .collect();
    let papers = if view.papers {
        let n = if plan.two_papers { 2 } else { 1 };
        (1..=n)
            .map(|k| PaperOut {
                code: format!("KQ-{}-{k}", plan.i),
                name: proc_.result,
                link: if plan.digitized && k == 1 {
                    format!("https://motcua.example.gov.vn/ketqua/{key}/{k}.pdf")
                } else {
                    String::new()
                },
            })
            .collect()
    } else {
        Vec::new()
    };
    let supplements = view
        .supplement
        .iter()
        .map(|s| SupplementOut {
            requested: DateOut::At(s.requested),
            before: date(view.due, nd),
            new_due: DateOut::At(s.new_due),
        })
        .collect();
    let apologies = view
        .apologies
        .iter()
        .enumerate()
        .map(|(k, &(issued, new_due))| ApologyOut {
            number: format!("{}/PXL-{}", k + 1, plan.i),
            issued: DateOut::At(issued),
            new_due: DateOut::At(new_due),
        })
        .collect();
    let rating = match view.rating {
        Some((level, at)) => Rating::Given(RatingOut {
            level: code(i64::from(level), sc),
            at: DateOut::At(at),
        }),
        None if nd => Rating::Null,
        None => Rating::Absent,
    };
    let deleted = if view.deleted {
        Some(code(1, plan.daxoa_style == 2))
    } else {
        match plan.daxoa_style {
            0 => None,
            s => Some(code(0, s == 2)),
        }
    };
    let paid = if view.received.is_some() {
        plan.paid
    } else {
        0
    };

    let mut out = DossierOut {
        key,
        procedure: Some(proc_.code),
        procedure_name: proc_.name,
        field: FIELDS[proc_.field].code,
        unit: &w.codes[plan.code].code,
        channel: code(i64::from(plan.channel), sc),
        status: code(i64::from(view.status), sc),
        received: date(view.received, nd),
        due: date(view.due, nd),
        end: date(view.end, nd),
        returned: date(view.returned, nd),
        paid: code(i64::from(paid), sc),
        fees,
        papers,
        supplements,
        apologies,
        rating,
        updated: DateOut::At(view.updated),
        deleted,
        owner: person.name,
        owner_id: person.id.clone(),
        phone: person.phone,
        email: person.email,
        address: person.address,
        owner_ident: person.id,
    };
    match invalid {
        None => {}
        Some(Invalid::BadDate) => out.received = DateOut::Raw("2024-13-45"),
        Some(Invalid::BadStatus) => out.status = code(42, sc),
        Some(Invalid::NoProcedure) => out.procedure = None,
        Some(Invalid::FinishedWithoutEnd) => {
            out.status = code(10, sc);
            out.end = date(None, nd);
            out.returned = date(None, nd);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Personal data (fake, deterministic)

struct Person {
    name: String,
    id: String,
    phone: String,
    email: String,
    address: String,
}

const FAMILY: &[&str] = &[
    "Nguyễn", "Nguyễn", "Nguyễn", "Trần", "Trần", "Lê", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan",
    "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Trương", "Đinh", "Mai", "Hà",
];
const MIDDLE_M: &[&str] = &[
    "Văn", "Hữu", "Đức", "Minh", "Quốc", "Thanh", "Công", "Xuân", "Đình", "Ngọc",
];
const MIDDLE_F: &[&str] = &[
    "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Minh", "Kim", "Diệu", "Phương", "Hoài",
];
const GIVEN_M: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hoàng", "Hùng", "Khang", "Khoa", "Long",
    "Lợi", "Nam", "Phong", "Phúc", "Quang", "Sơn", "Tài", "Thắng", "Tuấn", "Việt", "Vinh", "Trung",
];
const GIVEN_F: &[&str] = &[
    "Anh", "Châu", "Diệp", "Dung", "Giang", "Hà", "Hằng", "Hạnh", "Hoa", "Hương", "Lan", "Linh",
    "Loan", "Mai", "My", "Ngân", "Nhung", "Oanh", "Phương", "Thảo", "Trang", "Tuyết", "Vy", "Yến",
];
const PHONE_PREFIXES: &[&str] = &[
    "090", "091", "093", "094", "096", "097", "098", "032", "033", "035", "036", "037", "038",
    "039", "070", "076", "077", "078", "079", "081", "082", "083", "084", "085", "086", "088",
];
const STREETS: &[&str] = &[
    "đường Lê Lợi",
    "đường Hùng Vương",
    "đường Trần Hưng Đạo",
    "đường Nguyễn Huệ",
    "đường Lê Duẩn",
    "đường Quang Trung",
    "đường Hàm Nghi",
    "đường Phan Bội Châu",
    "đường Lý Thường Kiệt",
    "đường Trần Phú",
    "đường Nguyễn Trãi",
    "đường Lê Thế Hiếu",
    "đường Đặng Dung",
    "đường Thành Cổ",
    "kiệt 5 Ngô Quyền",
    "kiệt 12 Đoàn Khuê",
];
const WARDS: &[&str] = &[
    "Phường 1",
    "Phường 2",
    "Phường 3",
    "Phường 4",
    "Phường 5",
    "Phường Đông Lương",
    "Phường Đông Lễ",
    "Phường Đông Giang",
    "Phường Đông Thanh",
];
const MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "yahoo.com",
    "outlook.com",
];

/// Vietnamese letters without their marks, lower case (for e-mail addresses).
fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| {
            let base = match c {
                'à' | 'á' | 'ạ' | 'ả' | 'ã' | 'â' | 'ầ' | 'ấ' | 'ậ' | 'ẩ' | 'ẫ' | 'ă' | 'ằ'
                | 'ắ' | 'ặ' | 'ẳ' | 'ẵ' => 'a',
                'è' | 'é' | 'ẹ' | 'ẻ' | 'ẽ' | 'ê' | 'ề' | 'ế' | 'ệ' | 'ể' | 'ễ' => {
                    'e'
                }
                'ì' | 'í' | 'ị' | 'ỉ' | 'ĩ' => 'i',
                'ò' | 'ó' | 'ọ' | 'ỏ' | 'õ' | 'ô' | 'ồ' | 'ố' | 'ộ' | 'ổ' | 'ỗ' | 'ơ' | 'ờ'
                | 'ớ' | 'ợ' | 'ở' | 'ỡ' => 'o',
                'ù' | 'ú' | 'ụ' | 'ủ' | 'ũ' | 'ư' | 'ừ' | 'ứ' | 'ự' | 'ử' | 'ữ' => {
                    'u'
                }
                'ỳ' | 'ý' | 'ỵ' | 'ỷ' | 'ỹ' => 'y',
                'đ' => 'd',
                c if c.is_ascii_alphanumeric() => c,
                _ => return None,
            };
            Some(base)
        })
        .collect()
}

fn person(seed: u64, i: u32) -> Person {
    let mut r = Rng::new(seed, STREAM_PERSON, u64::from(i));
    let female = r.chance(0.5);
    let family = *r.pick(FAMILY);
    let (middle, given) = if female {
        (*r.pick(MIDDLE_F), *r.pick(GIVEN_F))
    } else {
        (*r.pick(MIDDLE_M), *r.pick(GIVEN_M))
    };
    let name = format!("{family} {middle} {given}");
    let born = r.range(1945, 2007);
    let century = if born >= 2000 { 2 } else { 0 } + u32::from(female);
    // Số định danh cá nhân: province (045 Quảng Trị), gender and century, year, six digits.
    let id = format!("045{century}{:02}{:06}", born % 100, r.below(1_000_000));
    let phone = format!("{}{:07}", r.pick(PHONE_PREFIXES), r.below(10_000_000));
    let email = format!(
        "{}{}{:02}@{}",
        fold(given),
        fold(&format!("{family}{middle}")),
        born % 100,
        r.pick(MAIL_DOMAINS)
    );
    let address = format!(
        "Số {}, {}, {}, thành phố Đông Hà, tỉnh Quảng Trị",
        r.range(1, 300),
        r.pick(STREETS),
        r.pick(WARDS)
    );
    Person {
        name,
        id,
        phone,
        email,
        address,
    }
}

// ---------------------------------------------------------------------------------------------
// Procedures

#[derive(serde::Serialize)]
pub(super) struct ProcedureOut {
    #[serde(rename = "MaTTHC")]
    code: &'static str,
    #[serde(rename = "TenTTHC")]
    name: &'static str,
    #[serde(rename = "MaLinhVuc")]
    field: &'static str,
    #[serde(rename = "TenLinhVuc")]
    field_name: &'static str,
    #[serde(rename = "MucDo")]
    level: CodeOut,
    #[serde(rename = "ThoiHanGiaiQuyet")]
    days: u32,
}

/// The catalogue as `/thu-tuc` serves it (the codes that dossiers cite in vain are left out).
pub(super) fn render_catalogue(seed: u64) -> Vec<ProcedureOut> {
    PROCEDURES
        .iter()
        .enumerate()
        .filter(|(_, p)| p.in_catalogue)
        .map(|(k, p)| ProcedureOut {
            code: p.code,
            name: p.name,
            field: FIELDS[p.field].code,
            field_name: FIELDS[p.field].name,
            level: code(
                i64::from(p.level),
                seed.wrapping_add(k as u64).is_multiple_of(3),
            ),
            days: p.days,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Documents

/// The whole life of document `i`.
#[derive(Clone, Debug)]
pub(super) struct DocumentPlan {
    pub i: u32,
    pub code: usize,
    pub incoming: bool,
    /// `NgayDen` (DEN) or `NgayBanHanh` (DI): when it appears.
    pub date: Epoch,
    /// DEN: when it was processed on the system (XuLyTrenMang = 1), if ever.
    pub processed: Option<Epoch>,
    /// DI: signed digitally.
    pub signed: bool,
    pub deleted: Option<Epoch>,
    pub string_codes: bool,
    pub null_dates: bool,
    pub number: u32,
    pub subject: usize,
}

const SUBJECTS: &[&str] = &[
    "V/v triển khai thực hiện Chỉ số cải cách hành chính năm",
    "V/v báo cáo tình hình giải quyết thủ tục hành chính quý",
    "V/v tăng cường số hóa hồ sơ, kết quả giải quyết thủ tục hành chính",
    "V/v đẩy mạnh cung cấp dịch vụ công trực tuyến toàn trình",
    "V/v thực hiện thanh toán trực tuyến phí, lệ phí",
    "V/v chấn chỉnh tình trạng hồ sơ trễ hạn",
    "V/v khảo sát mức độ hài lòng của người dân, tổ chức",
    "V/v góp ý dự thảo kế hoạch phát triển kinh tế - xã hội",
    "V/v tổ chức hội nghị sơ kết công tác cải cách hành chính",
    "V/v kiểm tra công tác văn thư, lưu trữ",
    "V/v phòng, chống thiên tai và tìm kiếm cứu nạn",
    "V/v thực hiện Đề án 06 về phát triển ứng dụng dữ liệu dân cư",
];
const SIGNS: &[&str] = &[
    "UBND-VP",
    "UBND-NV",
    "UBND-TNMT",
    "UBND-KT",
    "UBND-TP",
    "VP-HCTC",
    "BC-UBND",
];

pub(super) fn document_plan(w: &World, i: u32) -> DocumentPlan {
    let mut r = Rng::new(w.seed, STREAM_DOCUMENT, u64::from(i));
    let code = if w.doc_code_cum.is_empty() || r.chance(UNMAPPED_SHARE) {
        w.doc_codes.len() - 1
    } else {
        pick_cumulative(&w.doc_code_cum, r.f64())
    };
    let prof = &w.profiles[w.doc_codes[code].profile];
    let incoming = r.chance(0.6);
    let date = office_time_on(r.range(w.start, w.end), &mut r);
    let processed = if incoming && r.chance(prof.edoc) {
        Some(date + r.range(30 * MINUTE, 5 * DAY))
    } else {
        None
    };
    let signed = !incoming && r.chance(prof.esign);
    let style = r.next_u64();
    let mut plan = DocumentPlan {
        i,
        code,
        incoming,
        date,
        processed,
        signed,
        deleted: None,
        string_codes: style % 100 < 35,
        null_dates: (style >> 8) % 100 < 30,
        number: (style >> 16) as u32 % 2000 + 1,
        subject: ((style >> 40) % SUBJECTS.len() as u64) as usize,
    };
    if r.chance(DELETED_SHARE) {
        let last = processed.unwrap_or(date);
        plan.deleted = Some(last + r.range(HOUR, 30 * DAY));
    }
    plan
}

impl DocumentPlan {
    fn events(&self) -> [Option<Epoch>; 3] {
        [Some(self.date), self.processed, self.deleted]
    }

    pub(super) fn updated_at(&self, t: Epoch) -> Option<Epoch> {
        if t < self.date {
            return None;
        }
        self.events()
            .into_iter()
            .flatten()
            .filter(|&x| x <= t)
            .max()
    }

    pub(super) fn next_event(&self, t: Epoch) -> Option<Epoch> {
        self.events().into_iter().flatten().filter(|&x| x > t).min()
    }
}

pub(super) fn document_key(i: u32) -> String {
    format!("VB-{i:08}")
}

/// `i` of a `MaVanBan`, if the simulator could have issued it.
pub(super) fn document_index_of_key(w: &World, key: &str) -> Option<u32> {
    let digits = key.strip_prefix("VB-")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let i: u32 = digits.parse().ok()?;
    (i < w.documents).then_some(i)
}

/// One `/van-ban` record.
#[derive(serde::Serialize)]
pub(super) struct DocumentOut<'a> {
    #[serde(rename = "MaVanBan")]
    key: String,
    #[serde(rename = "MaDonVi")]
    unit: &'a str,
    #[serde(rename = "LoaiVanBan")]
    direction: &'static str,
    #[serde(rename = "SoKyHieu")]
    number: String,
    #[serde(rename = "TrichYeu")]
    subject: String,
    #[serde(rename = "NgayDen", skip_serializing_if = "Option::is_none")]
    arrived: Option<DateOut>,
    #[serde(rename = "NgayBanHanh", skip_serializing_if = "Option::is_none")]
    issued: Option<DateOut>,
    #[serde(rename = "XuLyTrenMang", skip_serializing_if = "Option::is_none")]
    processed: Option<CodeOut>,
    #[serde(rename = "KySo", skip_serializing_if = "Option::is_none")]
    signed: Option<CodeOut>,
    #[serde(rename = "NgayCapNhat")]
    updated: DateOut,
    #[serde(rename = "DaXoa")]
    deleted: CodeOut,
}

/// The record of a document at `t` (which must be at or after its appearance).
pub(super) fn render_document<'a>(w: &'a World, plan: &DocumentPlan, t: Epoch) -> DocumentOut<'a> {
    let sc = plan.string_codes;
    let updated = plan.updated_at(t).unwrap_or(plan.date);
    let deleted = plan.deleted.is_some_and(|d| d <= t);
    let year = civil_from_days(local_day(plan.date)).0;
    let (arrived, issued, processed, signed) = if plan.incoming {
        let done = plan.processed.is_some_and(|x| x <= t);
        (
            Some(DateOut::At(plan.date)),
            plan.null_dates.then_some(DateOut::Null),
            Some(code(i64::from(done), sc)),
            None,
        )
    } else {
        (
            plan.null_dates.then_some(DateOut::Empty),
            Some(DateOut::At(plan.date)),
            None,
            Some(code(i64::from(plan.signed), sc)),
        )
    };
    DocumentOut {
        key: document_key(plan.i),
        unit: &w.doc_codes[plan.code].code,
        direction: if plan.incoming { "DEN" } else { "DI" },
        number: format!("{}/{}", plan.number, SIGNS[plan.subject % SIGNS.len()]),
        subject: format!("{} {year}", SUBJECTS[plan.subject]),
        arrived,
        issued,
        processed,
        signed,
        updated: DateOut::At(updated),
        deleted: code(i64::from(deleted), sc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_matches_the_time_module() {
        let mut r = Rng::new(7, 99, 0);
        for _ in 0..20_000 {
            let t = r.range(FIXED_OFFSET_SINCE, 4_102_444_800);
            assert_eq!(compact(t), format_compact(t), "{t}");
        }
        for t in [
            0,
            -86_400,
            100_000_000,
            FIXED_OFFSET_SINCE - 1,
            FIXED_OFFSET_SINCE,
        ] {
            assert_eq!(compact(t), format_compact(t), "{t}");
        }
        assert_eq!(
            yymmdd(
                crate::domain::time::parse_compact("20240501000000")
                    .unwrap()
                    .unwrap()
            ),
            240_501
        );
        assert_eq!(
            yymmdd(
                crate::domain::time::parse_compact("20240430235959")
                    .unwrap()
                    .unwrap()
            ),
            240_430
        );
    }

    #[test]
    fn weekdays_and_working_days() {
        // 2024-05-03 is a Friday.
        let fri = local_day(
            crate::domain::time::parse_compact("20240503100000")
                .unwrap()
                .unwrap(),
        );
        assert_eq!(weekday(fri), 4);
        assert_eq!(weekday(add_working_days(fri, 1)), 0);
        assert_eq!(add_working_days(fri, 1) - fri, 3);
        assert_eq!(add_working_days(fri + 1, 0), fri + 3);
    }

    #[test]
    fn fold_drops_marks() {
        assert_eq!(fold("Nguyễn Thị Ánh Tuyết"), "nguyenthianhtuyet");
        assert_eq!(fold("Đặng Đức"), "dangduc");
    }

    #[test]
    fn catalogue_has_about_forty_procedures_half_full_online() {
        let cat: Vec<_> = PROCEDURES.iter().filter(|p| p.in_catalogue).collect();
        assert!((38..=50).contains(&cat.len()), "{}", cat.len());
        let level4 = cat.iter().filter(|p| p.level == 4).count();
        assert!(
            level4 * 100 / cat.len() >= 40 && level4 * 100 / cat.len() <= 70,
            "{level4}"
        );
        let mut codes: Vec<_> = PROCEDURES.iter().map(|p| p.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), PROCEDURES.len(), "procedure codes are unique");
    }
}
