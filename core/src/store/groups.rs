//! Groups (dialable numbers that reach several people) and contacts (with speed dials).

use super::{
    DbConnection, StoreError, now,
    schema::{contacts, group_members, groups, users},
    users::{User, find_by_extension},
};
use crate::ids::{GroupId, UserId};
use diesel::prelude::*;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = groups)]
pub struct Group {
    pub id: String,
    pub number: String,
    pub name: String,
    pub owner_id: Option<String>,
    pub created_at: chrono::NaiveDateTime,
}

pub fn create(
    conn: &mut DbConnection,
    number: &str,
    name: &str,
    owner: Option<&UserId>,
) -> Result<Group, StoreError> {
    super::users::validate_extension(number)?;
    if find_by_extension(conn, number)?.is_some() || find_by_number(conn, number)?.is_some() {
        return Err(StoreError::Conflict(format!("number {number} is taken")));
    }
    let g = Group {
        id: GroupId::new().into_string(),
        number: number.into(),
        name: name.into(),
        owner_id: owner.map(|o| o.to_string()),
        created_at: now(),
    };
    diesel::insert_into(groups::table)
        .values((
            groups::id.eq(&g.id),
            groups::number.eq(&g.number),
            groups::name.eq(&g.name),
            groups::owner_id.eq(&g.owner_id),
            groups::created_at.eq(g.created_at),
        ))
        .execute(conn)?;
    Ok(g)
}

pub fn find_by_number(conn: &mut DbConnection, number: &str) -> Result<Option<Group>, StoreError> {
    Ok(groups::table
        .filter(groups::number.eq(number))
        .select(Group::as_select())
        .first(conn)
        .optional()?)
}

pub fn add_member(conn: &mut DbConnection, group: &str, user: &UserId) -> Result<(), StoreError> {
    diesel::insert_into(group_members::table)
        .values((
            group_members::group_id.eq(group),
            group_members::user_id.eq(user.as_str()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn list_members(conn: &mut DbConnection, group: &str) -> Result<Vec<User>, StoreError> {
    Ok(group_members::table
        .inner_join(users::table)
        .filter(group_members::group_id.eq(group))
        .order(users::extension.asc())
        .select(User::as_select())
        .load(conn)?)
}

pub fn add_contact(
    conn: &mut DbConnection,
    owner: &UserId,
    contact: &UserId,
    speed_dial: Option<i32>,
) -> Result<(), StoreError> {
    diesel::insert_into(contacts::table)
        .values((
            contacts::owner_id.eq(owner.as_str()),
            contacts::contact_id.eq(contact.as_str()),
            contacts::speed_dial.eq(speed_dial),
        ))
        .execute(conn)?;
    Ok(())
}

/// A user's contacts with their speed-dial digits, by speed dial then extension.
pub fn list_contacts(
    conn: &mut DbConnection,
    owner: &UserId,
) -> Result<Vec<(User, Option<i32>)>, StoreError> {
    Ok(contacts::table
        .inner_join(users::table)
        .filter(contacts::owner_id.eq(owner.as_str()))
        .order((contacts::speed_dial.asc(), users::extension.asc()))
        .select((User::as_select(), contacts::speed_dial))
        .load(conn)?)
}

/// Resolve what a sender typed (extensions and group numbers) into distinct recipients, in
/// the order given. A group never includes the sender (who can still name their own
/// extension). Unknown numbers are an error naming them all, so nothing is half-sent.
pub fn resolve_recipients(
    conn: &mut DbConnection,
    numbers: &[String],
    sender: &UserId,
) -> Result<Vec<User>, StoreError> {
    let mut out: Vec<User> = Vec::new();
    let mut unknown = Vec::new();
    for n in numbers {
        let found = if let Some(u) = find_by_extension(conn, n)? {
            vec![u]
        } else if let Some(g) = find_by_number(conn, n)? {
            let mut members = list_members(conn, &g.id)?;
            members.retain(|m| m.id != sender.as_str());
            members
        } else {
            unknown.push(n.clone());
            continue;
        };
        for u in found {
            if !out.iter().any(|o| o.id == u.id) {
                out.push(u);
            }
        }
    }
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(StoreError::NotFoundNumbers(unknown))
    }
}

/// The groups among `numbers` (those that are not someone's extension), as people name them:
/// "Sales (200)".
pub fn names_of(conn: &mut DbConnection, numbers: &[String]) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for n in numbers {
        if find_by_extension(conn, n)?.is_none()
            && let Some(g) = find_by_number(conn, n)?
        {
            out.push(format!("{} ({})", g.name, g.number));
        }
    }
    Ok(out)
}

/// Everyone who has `contact` among their contacts (whom their presence concerns).
pub fn list_contact_owners(
    conn: &mut DbConnection,
    contact: &UserId,
) -> Result<Vec<String>, StoreError> {
    Ok(contacts::table
        .filter(contacts::contact_id.eq(contact.as_str()))
        .select(contacts::owner_id)
        .load(conn)?)
}

/// The groups `user` belongs to or owns, by number: the ones they can send to by name.
pub fn list_for_member(conn: &mut DbConnection, user: &UserId) -> Result<Vec<Group>, StoreError> {
    let member_of = group_members::table
        .filter(group_members::user_id.eq(user.as_str()))
        .select(group_members::group_id);
    Ok(groups::table
        .filter(
            groups::id
                .eq_any(member_of)
                .or(groups::owner_id.eq(user.as_str())),
        )
        .order(groups::number.asc())
        .select(Group::as_select())
        .load(conn)?)
}

/// Add `contact` to `owner`'s contacts, or change its speed dial. A speed dial (0–9) belongs
/// to one contact at a time: giving it to another takes it from the first, who is returned
/// (so the person can be told).
pub fn set_contact(
    conn: &mut DbConnection,
    owner: &UserId,
    contact: &UserId,
    speed_dial: Option<i32>,
) -> Result<Option<User>, StoreError> {
    if owner == contact {
        return Err(StoreError::Invalid("You are not your own contact.".into()));
    }
    let mut moved_from = None;
    if let Some(d) = speed_dial {
        if !(0..=9).contains(&d) {
            return Err(StoreError::Invalid(
                "A speed dial is one digit, 0 to 9.".into(),
            ));
        }
        moved_from = list_contacts(conn, owner)?
            .into_iter()
            .find(|(u, dial)| *dial == Some(d) && u.id != contact.as_str())
            .map(|(u, _)| u);
        diesel::update(
            contacts::table
                .filter(contacts::owner_id.eq(owner.as_str()))
                .filter(contacts::speed_dial.eq(d)),
        )
        .set(contacts::speed_dial.eq(None::<i32>))
        .execute(conn)?;
    }
    let changed = diesel::update(
        contacts::table
            .filter(contacts::owner_id.eq(owner.as_str()))
            .filter(contacts::contact_id.eq(contact.as_str())),
    )
    .set(contacts::speed_dial.eq(speed_dial))
    .execute(conn)?;
    if changed == 0 {
        add_contact(conn, owner, contact, speed_dial)?;
    }
    Ok(moved_from)
}

/// Take `contact` off `owner`'s contacts; false when they were not there.
pub fn remove_contact(
    conn: &mut DbConnection,
    owner: &UserId,
    contact: &UserId,
) -> Result<bool, StoreError> {
    Ok(diesel::delete(
        contacts::table
            .filter(contacts::owner_id.eq(owner.as_str()))
            .filter(contacts::contact_id.eq(contact.as_str())),
    )
    .execute(conn)?
        > 0)
}

/// The groups `owner` made, by number.
pub fn list_owned(conn: &mut DbConnection, owner: &UserId) -> Result<Vec<Group>, StoreError> {
    Ok(groups::table
        .filter(groups::owner_id.eq(owner.as_str()))
        .order(groups::number.asc())
        .select(Group::as_select())
        .load(conn)?)
}

/// Every group, by number (the admin's view).
pub fn list_all(conn: &mut DbConnection) -> Result<Vec<Group>, StoreError> {
    Ok(groups::table
        .order(groups::number.asc())
        .select(Group::as_select())
        .load(conn)?)
}

/// Group `id`, whoever owns it (the admin's view).
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Group>, StoreError> {
    Ok(groups::table
        .find(id)
        .select(Group::as_select())
        .first(conn)
        .optional()?)
}

/// `owner`'s group `id`; another person's group is not found.
pub fn find_owned(
    conn: &mut DbConnection,
    owner: &UserId,
    id: &str,
) -> Result<Option<Group>, StoreError> {
    Ok(groups::table
        .filter(groups::id.eq(id))
        .filter(groups::owner_id.eq(owner.as_str()))
        .select(Group::as_select())
        .first(conn)
        .optional()?)
}

/// Make `group`'s members exactly `members`.
pub fn set_members(
    conn: &mut DbConnection,
    group: &str,
    members: &[UserId],
) -> Result<(), StoreError> {
    diesel::delete(group_members::table.filter(group_members::group_id.eq(group))).execute(conn)?;
    for m in members {
        add_member(conn, group, m)?;
    }
    Ok(())
}

/// Delete group `id` (its memberships go with it).
pub fn delete(conn: &mut DbConnection, id: &str) -> Result<(), StoreError> {
    diesel::delete(group_members::table.filter(group_members::group_id.eq(id))).execute(conn)?;
    diesel::delete(groups::table.find(id)).execute(conn)?;
    Ok(())
}

/// Rename group `id`.
pub fn rename(conn: &mut DbConnection, id: &str, name: &str) -> Result<(), StoreError> {
    diesel::update(groups::table.find(id))
        .set(groups::name.eq(name))
        .execute(conn)?;
    Ok(())
}
