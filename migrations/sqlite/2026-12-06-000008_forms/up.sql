-- The one-line notice ("Saved", "Sent to Bob Baker") a portal page shows once, after the
-- form that changed something answered with a redirect.
ALTER TABLE sessions ADD COLUMN flash TEXT;

-- Forms already acted on: each portal form carries a fresh random token, and a second
-- submission of the same form (a reload, a double click, Back then Submit) finds its token
-- here and acts no more. Kept for a day.
CREATE TABLE form_submissions (
    token TEXT PRIMARY KEY NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX form_submissions_by_age ON form_submissions (created_at);

-- Why a recipient's delivery failed, in words for the sender ("Call my phone: busy"; "nothing
-- can reach Bob Baker: …"), set when the recipient is marked failed.
ALTER TABLE message_recipients ADD COLUMN reason TEXT;
