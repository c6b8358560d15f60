//! Exact counts for one group of records (a unit and a field, or a whole unit, over one window):
//! the numerators and denominators of every rate of metrics.md, and the counts the Decision 766
//! score and the data-quality checks need. Sums of tallies are tallies (counts add up the unit
//! tree; rates never average). Plain data: the rules that fill it live in `crate::rates::rules`.

use std::ops::AddAssign;

/// Exact counts for one group of records (a unit code and a field code, or a whole unit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// `late_rate`: numerator L and denominator H.
    pub late: i64,
    pub handled: i64,
    /// `apology_rate`: late dossiers with an apology issued before the horizon (denominator L).
    pub apologized: i64,
    /// `digitized_rate`.
    pub digitized: i64,
    pub results: i64,
    /// `online_rate`.
    pub online: i64,
    pub full_online_eligible: i64,
    /// `online_payment_rate`.
    pub paid_online: i64,
    pub with_fee: i64,
    /// `satisfaction_rate`.
    pub satisfied: i64,
    pub rated: i64,
    /// `edoc_rate`.
    pub edoc: i64,
    pub incoming: i64,
    /// `esign_rate`.
    pub esigned: i64,
    pub outgoing: i64,
    /// Data quality: dossiers of H with no due date (never judged late).
    pub no_due_date: i64,
    // Counts of the Decision 766 score (`../shared/spec/score766.md`, `crate::score`):
    /// Receipts: dossiers in scope received in the window (the CLGQ denominator).
    pub received: i64,
    /// Receipts of the window made online (`KenhThucHien` = 2), whatever the procedure's level.
    pub received_online: i64,
    /// Dossiers of H rated unsatisfied (`MucDo` not 1 or 2) with `NgayDanhGia` before the
    /// horizon (the MDHL "rated unsatisfied" share, over H).
    pub unsatisfied: i64,
    /// Data quality: dossiers received in the window whose procedure is not in the catalogue.
    pub unknown_procedure: i64,
}

impl AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.late += o.late;
        self.handled += o.handled;
        self.apologized += o.apologized;
        self.digitized += o.digitized;
        self.results += o.results;
        self.online += o.online;
        self.full_online_eligible += o.full_online_eligible;
        self.paid_online += o.paid_online;
        self.with_fee += o.with_fee;
        self.satisfied += o.satisfied;
        self.rated += o.rated;
        self.edoc += o.edoc;
        self.incoming += o.incoming;
        self.esigned += o.esigned;
        self.outgoing += o.outgoing;
        self.no_due_date += o.no_due_date;
        self.received += o.received;
        self.received_online += o.received_online;
        self.unsatisfied += o.unsatisfied;
        self.unknown_procedure += o.unknown_procedure;
    }
}
