-- 亲情付 by the patient (issue 14): an adult relative's own consent. The signer's phone cannot give
-- the relative's consent, so adding an adult from the patient's door writes an invitation; the
-- relative accepts (or declines) it signed in on their own phone, and only then is the family link
-- made. An invitation is pending for 7 days; `link_id` names the link its acceptance made.
CREATE TABLE family_invitations (
    id TEXT PRIMARY KEY NOT NULL,
    agreement_id TEXT NOT NULL,
    member_psn_no TEXT NOT NULL,
    member_name_enc TEXT NOT NULL,
    relation TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'declined')),
    link_id TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    decided_at TEXT
);
CREATE INDEX family_invitations_by_member ON family_invitations (member_psn_no, status);
CREATE INDEX family_invitations_by_agreement ON family_invitations (agreement_id, status);
