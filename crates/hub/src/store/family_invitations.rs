//! Invitations to an adult relative to let the signer's agreement pay for them (亲情付, migration
//! 0027): written by the signer, decided by the relative on their own phone.

use super::*;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyInvitationRow {
    pub id: String,
    pub agreement_id: String,
    pub member_psn_no: String,
    pub member_name_enc: String,
    pub relation: String,
    /// `pending`, `accepted` or `declined`.
    pub status: String,
    pub link_id: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

const COLUMNS: &str = "id, agreement_id, member_psn_no, member_name_enc, relation, status, link_id, created_at, expires_at";

fn invitation_of(r: &SqlRow) -> FamilyInvitationRow {
    FamilyInvitationRow {
        id: r.get("id"),
        agreement_id: r.get("agreement_id"),
        member_psn_no: r.get("member_psn_no"),
        member_name_enc: r.get("member_name_enc"),
        relation: r.get("relation"),
        status: r.get("status"),
        link_id: r.get("link_id"),
        created_at: r.get("created_at"),
        expires_at: r.get("expires_at"),
    }
}

impl Store {
    /// Writes an invitation; false when the same relative already has one pending on this agreement.
    pub async fn insert_family_invitation(&self, i: &FamilyInvitationRow, now: &str) -> StoreResult<bool> {
        let (i, now) = (i.clone(), now.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let pending = query(
                    "SELECT 1 FROM family_invitations WHERE agreement_id = $1 AND member_psn_no = $2 AND status = 'pending' AND expires_at > $3",
                )
                .bind(&i.agreement_id)
                .bind(&i.member_psn_no)
                .bind(&now)
                .fetch_optional(&mut *c)
                .await?;
                if pending.is_some() {
                    return Ok(false);
                }
                let sql = format!("INSERT INTO family_invitations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
                query(sql)
                    .bind(&i.id)
                    .bind(&i.agreement_id)
                    .bind(&i.member_psn_no)
                    .bind(&i.member_name_enc)
                    .bind(&i.relation)
                    .bind(&i.status)
                    .bind(i.link_id.clone())
                    .bind(&i.created_at)
                    .bind(&i.expires_at)
                    .execute(&mut *c)
                    .await?;
                Ok(true)
            })
        })
        .await
    }

    pub async fn family_invitation(&self, id: &str) -> StoreResult<Option<FamilyInvitationRow>> {
        let sql = format!("SELECT {COLUMNS} FROM family_invitations WHERE id = $1");
        Ok(query(sql).bind(id).fetch_optional(&self.pool).await?.as_ref().map(invitation_of))
    }

    /// Pending invitations not yet expired at `now` naming `member_psn_no` (received).
    pub async fn family_invitations_to(&self, member_psn_no: &str, now: &str) -> StoreResult<Vec<FamilyInvitationRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM family_invitations WHERE member_psn_no = $1 AND status = 'pending' AND expires_at > $2 ORDER BY created_at LIMIT 20"
        );
        let rows = query(sql).bind(member_psn_no).bind(now).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(invitation_of).collect())
    }

    /// Pending invitations not yet expired at `now` on one agreement (sent).
    pub async fn family_invitations_of(&self, agreement_id: &str, now: &str) -> StoreResult<Vec<FamilyInvitationRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM family_invitations WHERE agreement_id = $1 AND status = 'pending' AND expires_at > $2 ORDER BY created_at LIMIT 20"
        );
        let rows = query(sql).bind(agreement_id).bind(now).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(invitation_of).collect())
    }

    /// Decides a pending invitation (`accepted` with its link, or `declined`); false when it was
    /// not pending any more.
    pub async fn decide_family_invitation(&self, id: &str, status: &str, link_id: Option<&str>, now: &str) -> StoreResult<bool> {
        let (id, status, link_id, now) = (id.to_string(), status.to_string(), link_id.map(str::to_string), now.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let sql = "UPDATE family_invitations SET status = $1, link_id = $2, decided_at = $3 WHERE id = $4 AND status = 'pending'";
                Ok(query(sql).bind(status).bind(link_id).bind(now).bind(id).execute(&mut *c).await?.rows_affected() == 1)
            })
        })
        .await
    }
}
