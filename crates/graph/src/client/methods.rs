//! Typed calls for what contact sync needs.

use super::{GraphClient, parse_body};
use crate::error::Error;
use crate::ops::{
    ContactsDelta, CreateContact, DeleteContact, GetContact, GetContactFolder, GetUser,
    ListContactFolders, Method, Request, TranslateIds, UpdateContact, User,
};
use crate::types::{Collection, Contact, ContactFolder, ContactPatch, DeltaPage, PropertyId};

/// A contact folder with its subfolders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderNode {
    /// The folder.
    pub folder: ContactFolder,
    /// Its child folders, in the server's order.
    pub children: Vec<FolderNode>,
}

impl GraphClient {
    fn user_owned(&self) -> String {
        self.inner.config.user.clone()
    }

    /// The user (proves it exists and the app may address it; needs `User.Read.All`).
    pub async fn get_user(&self) -> Result<User, Error> {
        self.execute(&GetUser {
            user: self.user_owned(),
        })
        .await
    }

    /// One contact folder (`contacts` = the default Contacts folder).
    pub async fn contact_folder(&self, folder_id: &str) -> Result<ContactFolder, Error> {
        self.execute(&GetContactFolder {
            user: self.user_owned(),
            folder_id: folder_id.to_owned(),
        })
        .await
    }

    /// The folders under `parent` (`None`: under the default Contacts folder), every page.
    pub async fn list_folders(&self, parent: Option<&str>) -> Result<Vec<ContactFolder>, Error> {
        let op = ListContactFolders {
            user: self.user_owned(),
            parent: parent.map(str::to_owned),
        };
        let mut page: Collection<ContactFolder> = self.execute(&op).await?;
        let mut all = std::mem::take(&mut page.value);
        let mut next = page.next_link;
        while let Some(link) = next {
            let url = self.check_link(&link)?;
            let req = Request::new(Method::Get, url.path().to_owned());
            let body = self.send(&req, url, 1).await?;
            let mut page: Collection<ContactFolder> = parse_body(&body)?;
            all.append(&mut page.value);
            next = page.next_link;
        }
        Ok(all)
    }

    /// The default Contacts folder with every folder below it, recursively.
    pub async fn folder_tree(&self) -> Result<FolderNode, Error> {
        let root = self.contact_folder("contacts").await?;
        let mut tree = FolderNode {
            folder: root,
            children: Vec::new(),
        };
        tree.children = self.subtree(None).await?;
        Ok(tree)
    }

    async fn subtree(&self, parent: Option<&str>) -> Result<Vec<FolderNode>, Error> {
        let mut nodes = Vec::new();
        for folder in self.list_folders(parent).await? {
            let children = if folder.child_folder_count == Some(0) {
                Vec::new()
            } else {
                Box::pin(self.subtree(Some(&folder.id))).await?
            };
            nodes.push(FolderNode { folder, children });
        }
        Ok(nodes)
    }

    /// A page of a folder's delta: the first of a round (`link = None`), or the page a
    /// saved `@odata.nextLink` / `@odata.deltaLink` names (only on the configured host).
    pub async fn delta_page(
        &self,
        start: &ContactsDelta,
        link: Option<&str>,
    ) -> Result<DeltaPage, Error> {
        let Some(link) = link else {
            return self.execute(start).await;
        };
        let url = self.check_link(link)?;
        let mut req = Request::new(Method::Get, url.path().to_owned());
        req.page_size = crate::ops::Operation::request(start).page_size;
        let body = self.send(&req, url, 1).await?;
        parse_body(&body)
    }

    /// One contact with the selected properties and extended properties.
    pub async fn get_contact(
        &self,
        id: &str,
        select: &[String],
        extended: &[PropertyId],
    ) -> Result<Contact, Error> {
        self.execute(&self.get_op(id, select, extended)).await
    }

    fn get_op(&self, id: &str, select: &[String], extended: &[PropertyId]) -> GetContact {
        GetContact {
            user: self.user_owned(),
            id: id.to_owned(),
            select: select.to_vec(),
            extended: extended.to_vec(),
        }
    }

    /// Contacts by id, in batches; one result per id, in order.
    pub async fn get_contacts(
        &self,
        ids: &[String],
        select: &[String],
        extended: &[PropertyId],
    ) -> Vec<Result<Contact, Error>> {
        let ops: Vec<GetContact> = ids
            .iter()
            .map(|id| self.get_op(id, select, extended))
            .collect();
        self.batch(&ops).await
    }

    /// Creates contacts in a folder (`None` = default), in batches; answers each created one.
    pub async fn create_contacts(
        &self,
        folder_id: Option<&str>,
        contacts: Vec<Contact>,
    ) -> Vec<Result<Contact, Error>> {
        let ops: Vec<CreateContact> = contacts
            .into_iter()
            .map(|contact| CreateContact {
                user: self.user_owned(),
                folder_id: folder_id.map(str::to_owned),
                contact,
            })
            .collect();
        self.batch(&ops).await
    }

    /// Patches contacts, each guarded by its `If-Match`; answers each updated one.
    pub async fn update_contacts(
        &self,
        updates: Vec<(String, Option<String>, ContactPatch)>,
    ) -> Vec<Result<Contact, Error>> {
        let ops: Vec<UpdateContact> = updates
            .into_iter()
            .map(|(id, if_match, patch)| UpdateContact {
                user: self.user_owned(),
                id,
                if_match,
                patch,
            })
            .collect();
        self.batch(&ops).await
    }

    /// The Graph (REST) ids of EWS ids, in order; `None` for an id Graph could not read.
    pub async fn translate_ews_ids(
        &self,
        ews_ids: &[String],
    ) -> Result<Vec<Option<String>>, Error> {
        let mut out = Vec::with_capacity(ews_ids.len());
        for chunk in ews_ids.chunks(crate::ops::translate_ids::MAX_TRANSLATE) {
            let answer = self
                .execute(&TranslateIds {
                    user: self.user_owned(),
                    input_ids: chunk.to_vec(),
                    source_id_type: "ewsId".into(),
                    target_id_type: "restId".into(),
                })
                .await?;
            out.extend(chunk.iter().map(|id| {
                answer
                    .value
                    .iter()
                    .find(|r| &r.source_id == id)
                    .and_then(|r| r.target_id.clone())
            }));
        }
        Ok(out)
    }

    /// Deletes contacts; one result per id.
    pub async fn delete_contacts(&self, ids: &[String]) -> Vec<Result<(), Error>> {
        let ops: Vec<DeleteContact> = ids
            .iter()
            .map(|id| DeleteContact {
                user: self.user_owned(),
                id: id.clone(),
            })
            .collect();
        self.batch(&ops).await
    }
}
