-- Cost that follows the window (issue 16), for documents: the instant by which the rates count a
-- document (an incoming one by its arrival, an outgoing one by its issue). The document counts
-- keep only the documents of their window through this index, instead of every one ever stored.
-- An index on the expression, not a column: it must stay word for word DOCUMENT_INSTANT in
-- src/store/tallies.rs.
CREATE INDEX IF NOT EXISTS documents_instant ON documents ((
    CASE direction WHEN 'DEN' THEN arrived_at WHEN 'DI' THEN issued_at END
));
