//! Grants of every record kind live in one table; these helpers read and replace them and
//! build the "visible to the caller" condition shared by every listing.
use std::collections::HashMap;

use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, JoinType, Order, Query, SimpleExpr, UnionType,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, IdenStatic,
    QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, Select, Set,
};
use uuid::Uuid;

use super::entities::grants;
use super::{PageRequest, Slice};
use crate::domain::access::EVERYONE;
use crate::domain::{Access, Caller, Grant};

/// The kinds of record that carry grants.
#[derive(Debug, Clone, Copy)]
pub enum RecordKind {
    Account,
    Contact,
    ContactFolder,
}

impl RecordKind {
    fn as_str(self) -> &'static str {
        match self {
            RecordKind::Account => "account",
            RecordKind::Contact => "contact",
            RecordKind::ContactFolder => "contact_folder",
        }
    }
}

/// `owner = caller OR id IN (records shared with the caller or everyone)`; `None` for admins.
pub fn visible_condition<C: ColumnTrait>(
    caller: &Caller,
    kind: RecordKind,
    id_col: C,
    owner_col: C,
) -> Option<SimpleExpr> {
    if caller.is_admin {
        return None;
    }
    Some(
        owner_col
            .eq(caller.user_id.clone())
            .or(Expr::col(id_col).in_subquery(shared_with(caller, kind))),
    )
}

/// A row of a listing: which record, at which version, with which grants. A listing
/// reads no more of each row: the API renders a record once for each version and grants
/// (`api::rendered`), and reads whole only those it has not rendered ([`listed_records`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: Uuid,
    pub version: i32,
    pub grants: Vec<Grant>,
}

/// The columns of a listed record's table that a listing reads and orders by.
pub struct ListingColumns<C> {
    pub id: C,
    pub owner: C,
    pub version: C,
}

#[derive(FromQueryResult)]
struct IdVersion {
    id: Uuid,
    version: i32,
}

/// The column a listing row carries its record's grants in: a JSON array of
/// `[grantee, access]` pairs.
const GRANTS_COLUMN: &str = "grants_json";

/// The grants of the row's record (`table.id`), as [`GRANTS_COLUMN`] holds them: read
/// with the row, by the grants' `(record_id, grantee)` key, rather than by a second
/// statement for the whole page (on SQLite another round trip to the connection's thread
/// and its release, and a temporary index for the page's 50 ids; on PostgreSQL another
/// round trip and the pool's ping).
fn grants_of_row(backend: DbBackend, table: &str, id: &str) -> SimpleExpr {
    let pairs = match backend {
        DbBackend::Postgres => "CAST(json_agg(json_build_array(\"grantee\", \"access\")) AS text)",
        _ => "json_group_array(json_array(\"grantee\", \"access\"))",
    };
    Expr::cust(format!(
        "(SELECT {pairs} FROM \"grants\" WHERE \"grants\".\"record_id\" = \"{table}\".\"{id}\")"
    ))
}

/// The first `limit` rows of `query` the caller may see, in id order, each with its
/// grants. A non-admin's rows are read as keyset pages, its own (by the `(owner, id)`
/// index: the read stops at the page's end) and those shared with it (by its grants and
/// by grants to everyone), rather than as one `owner = me OR id IN (...)` query, which
/// databases answer by reading every row of either kind and sorting them: a page would
/// cost as much as the owner's whole CRM. The pages are one statement (`UNION ALL`), so
/// a listing costs one round trip to the database. `query` is an `E::find()` with the
/// listing's filters.
pub async fn first_visible<E: EntityTrait>(
    db: &impl ConnectionTrait,
    caller: &Caller,
    kind: RecordKind,
    columns: ListingColumns<E::Column>,
    query: Select<E>,
    page: PageRequest,
) -> Result<Slice<Listed>, DbErr> {
    let rows = first_rows(db, caller, kind, &columns, query, page).await?;
    Ok(Slice::from_overfetch(rows, page.limit, |l| l.id))
}

/// [`first_visible`]'s rows, one more than the page when more follow.
async fn first_rows<E: EntityTrait>(
    db: &impl ConnectionTrait,
    caller: &Caller,
    kind: RecordKind,
    columns: &ListingColumns<E::Column>,
    query: Select<E>,
    page: PageRequest,
) -> Result<Vec<Listed>, DbErr> {
    let backend = db.get_database_backend();
    let limit = page.limit + 1;
    let (id_col, owner_col) = (columns.id, columns.owner);
    let mut query = query.select_only().columns([id_col, columns.version]);
    if let Some(after) = page.after {
        query = query.filter(id_col.gt(after));
    }
    let table = E::default().table_name().to_owned();
    let id = id_col.as_str().to_owned();
    if caller.is_admin {
        let all = query
            .expr_as(grants_of_row(backend, &table, &id), GRANTS_COLUMN)
            .order_by_asc(id_col)
            .limit(limit)
            .into_query();
        return with_grants(db.query_all_raw(backend.build(&all)).await?);
    }
    let own = query.clone().filter(owner_col.eq(caller.user_id.clone()));
    // The records shared with the caller, read from the grants' `(grantee, kind, record
    // id)` index in id order: once by its own grants, once by grants to everyone. As
    // `id IN (records shared with me or everyone)` both databases collected every shared
    // id for each page (SQLite into a temporary B-tree, PostgreSQL into a hash): a page
    // cost as much as all that is shared, 5 ms where 30k contacts are public.
    // A caller whose id is `*` (nothing stops a token's subject from being one) has
    // only the grants to everyone, read once.
    let grantees = if caller.user_id == EVERYONE {
        vec![EVERYONE]
    } else {
        vec![caller.user_id.as_str(), EVERYONE]
    };
    let shared = grantees
        .into_iter()
        .map(|grantee| shared_side(caller, kind, grantee, columns, query.clone()));
    let both = if backend == DbBackend::Sqlite {
        // SQLite merges the sides of a compound SELECT in the order it asks for, each
        // read in id order and stopped at the outer LIMIT. A side limited inside its own
        // subquery is one it cannot merge as it reads: it copied the pages into
        // temporary B-trees to sort them again, a temporary database each, opened and
        // sized per page.
        let grants = || grants_of_row(backend, &table, &id);
        let mut all = own.expr_as(grants(), GRANTS_COLUMN).into_query();
        for side in shared {
            all.union(
                UnionType::All,
                side.expr_as(grants(), GRANTS_COLUMN).into_query(),
            );
        }
        all.order_by(id_col, Order::Asc).limit(limit).to_owned()
    } else {
        // Each side is a page of its own, limited inside: PostgreSQL does not push the
        // outer LIMIT into a UNION's sides, and read and sorted every record of the
        // owner (3.4 ms a page of 10k contacts). The outer sort then merges at most
        // three pages.
        let page = |side: Select<E>, name: &str| {
            Query::select()
                .column(Asterisk)
                .expr_as(grants_of_row(backend, name, &id), Alias::new(GRANTS_COLUMN))
                .from_subquery(
                    side.order_by_asc(id_col).limit(limit).into_query(),
                    Alias::new(name),
                )
                .to_owned()
        };
        let mut all = page(own, "own_page");
        for (n, side) in shared.enumerate() {
            all.union(UnionType::All, page(side, &format!("shared_page_{n}")));
        }
        all.order_by(id_col, Order::Asc).limit(limit).to_owned()
    };
    with_grants(db.query_all_raw(backend.build(&both)).await?)
}

/// The rows of `query` shared with the caller by a grant to `grantee` (the caller or
/// everyone), not its own, as a join from the grants: the grants' index gives them in
/// record id order, and the id column is the grant's `record_id` so that the database
/// knows the rows come in the order of the listing. A record granted to everyone that is
/// also granted to the caller comes once, by the caller's grant.
fn shared_side<E: EntityTrait>(
    caller: &Caller,
    kind: RecordKind,
    grantee: &str,
    columns: &ListingColumns<E::Column>,
    query: Select<E>,
) -> Select<E> {
    let shared = Alias::new("shared");
    let mut side = query
        .select_only()
        .column_as(
            Expr::col((shared.clone(), grants::Column::RecordId)),
            columns.id.as_str(),
        )
        .column(columns.version)
        .filter(Expr::col((shared.clone(), grants::Column::Grantee)).eq(grantee))
        .filter(Expr::col((shared.clone(), grants::Column::RecordKind)).eq(kind.as_str()))
        .filter(columns.owner.ne(caller.user_id.clone()));
    if grantee != caller.user_id {
        let mine = Alias::new("mine");
        side = side.filter(
            Expr::exists(
                Query::select()
                    .expr(Expr::val(1))
                    .from_as(grants::Entity, mine.clone())
                    .and_where(
                        Expr::col((mine.clone(), grants::Column::RecordId))
                            .equals((shared.clone(), grants::Column::RecordId)),
                    )
                    .and_where(
                        Expr::col((mine, grants::Column::Grantee)).eq(caller.user_id.clone()),
                    )
                    .to_owned(),
            )
            .not(),
        );
    }
    QueryTrait::query(&mut side).join_as(
        JoinType::InnerJoin,
        grants::Entity,
        shared.clone(),
        Expr::col((shared, grants::Column::RecordId)).equals((E::default(), columns.id)),
    );
    side
}

/// The listing's rows, with the grants of [`GRANTS_COLUMN`].
fn with_grants(rows: Vec<QueryResult>) -> Result<Vec<Listed>, DbErr> {
    rows.iter()
        .map(|row| {
            let IdVersion { id, version } = IdVersion::from_query_result(row, "")?;
            let pairs: Vec<(String, String)> =
                match row.try_get::<Option<String>>("", GRANTS_COLUMN)? {
                    Some(json) => serde_json::from_str(&json)
                        .map_err(|e| DbErr::Type(format!("grants of a listed record: {e}")))?,
                    // PostgreSQL aggregates no rows to NULL.
                    None => Vec::new(),
                };
            let list = pairs
                .into_iter()
                .map(|(user_id, access)| Grant {
                    user_id,
                    access: Access::parse(&access).unwrap_or(Access::Read),
                })
                .collect();
            Ok(Listed {
                id,
                version,
                grants: sorted(list),
            })
        })
        .collect()
}

/// The ids of the records of `kind` shared with the caller or with everyone.
pub(crate) fn shared_with(
    caller: &Caller,
    kind: RecordKind,
) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(grants::Column::RecordId)
        .from(grants::Entity)
        .and_where(grants::Column::RecordKind.eq(kind.as_str()))
        .and_where(grants::Column::Grantee.is_in([caller.user_id.clone(), EVERYONE.to_owned()]))
        .to_owned()
}

/// The grants of one record.
pub async fn of_record(db: &impl ConnectionTrait, id: Uuid) -> Result<Vec<Grant>, DbErr> {
    Ok(of_records(db, &[id]).await?.remove(&id).unwrap_or_default())
}

/// The grants of many records at once, keyed by record id.
pub async fn of_records(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Grant>>, DbErr> {
    let mut map: HashMap<Uuid, Vec<Grant>> = HashMap::new();
    if ids.is_empty() {
        return Ok(map);
    }
    let rows = grants::Entity::find()
        .filter(grants::Column::RecordId.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    for r in rows {
        let access = Access::parse(&r.access).unwrap_or(Access::Read);
        map.entry(r.record_id).or_default().push(Grant {
            user_id: r.grantee,
            access,
        });
    }
    Ok(map
        .into_iter()
        .map(|(id, list)| (id, sorted(list)))
        .collect())
}

/// The records of a listing's rows as they are now, each with the grants it was listed
/// with, in no particular order: one changed since the listing comes at its new
/// version; one purged since (or no longer matching `query`) is left out.
pub async fn listed_records<E, T>(
    db: &impl ConnectionTrait,
    listed: &[Listed],
    id_col: E::Column,
    query: Select<E>,
    id_of: impl Fn(&E::Model) -> Uuid,
    build: impl Fn(E::Model, Vec<Grant>) -> T,
) -> Result<Vec<T>, DbErr>
where
    E: EntityTrait,
{
    if listed.is_empty() {
        return Ok(Vec::new());
    }
    let mut grants_of: HashMap<Uuid, &[Grant]> =
        listed.iter().map(|l| (l.id, &l.grants[..])).collect();
    Ok(query
        .filter(id_col.is_in(listed.iter().map(|l| l.id)))
        .all(db)
        .await?
        .into_iter()
        .map(|m| {
            let grants = grants_of.remove(&id_of(&m)).unwrap_or_default().to_vec();
            build(m, grants)
        })
        .collect())
}

/// Grants in the order listings return them (by grantee).
fn sorted(mut list: Vec<Grant>) -> Vec<Grant> {
    list.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    list
}

/// Replaces the grant list of a record; answers it as listings return it.
pub async fn replace(
    db: &impl ConnectionTrait,
    kind: RecordKind,
    id: Uuid,
    list: Vec<Grant>,
) -> Result<Vec<Grant>, DbErr> {
    remove_for_records(db, &[id]).await?;
    if !list.is_empty() {
        let rows = list.iter().map(|g| grants::ActiveModel {
            record_id: Set(id),
            grantee: Set(g.user_id.clone()),
            record_kind: Set(kind.as_str().to_owned()),
            access: Set(g.access.as_str().to_owned()),
        });
        grants::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(sorted(list))
}

/// The grants of a record after an update: `new` replaces them when given.
pub async fn replace_if_given(
    db: &impl ConnectionTrait,
    kind: RecordKind,
    id: Uuid,
    new: Option<Vec<Grant>>,
    current: Vec<Grant>,
) -> Result<Vec<Grant>, DbErr> {
    match new {
        Some(list) => replace(db, kind, id, list).await,
        None => Ok(current),
    }
}

/// Removes every grant of a record (when the record itself goes).
pub async fn remove_all(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    remove_for_records(db, &[id]).await
}

/// Removes every grant of many records.
pub async fn remove_for_records(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<(), DbErr> {
    grants::Entity::delete_many()
        .filter(grants::Column::RecordId.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}
