-- History from the first day (issue 18): past days are backfilled from the stored dossiers, and a
-- day recomputed later whose counts differ is marked revised, keeping what was first known.
-- numerator/denominator are always what is known now; first_* are what was stored before the
-- first revision (NULL when never revised), revised_at when the latest revision was found.
ALTER TABLE metric_samples ADD COLUMN first_numerator   INTEGER;
ALTER TABLE metric_samples ADD COLUMN first_denominator INTEGER;
ALTER TABLE metric_samples ADD COLUMN first_computed_at INTEGER;
ALTER TABLE metric_samples ADD COLUMN revised_at        INTEGER;
-- Which days already have samples (the backfill resumes from the days missing).
CREATE INDEX IF NOT EXISTS metric_samples_day ON metric_samples (day);
