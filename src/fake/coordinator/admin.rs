//! DescribeGroups, ListGroups and DeleteGroups (Java
//! `GroupCoordinator.handleDescribeGroup` / `handleListGroups` /
//! `handleDeleteGroups`).

use std::collections::BTreeSet;

use crate::messages::delete_groups_response::DeletableGroupResult;
use crate::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use crate::messages::list_groups_response::ListedGroup;
use crate::messages::*;

use super::group::Group;
use super::{check_group, coordinator_for, GroupState};
use crate::fake::api::meta::s;
use crate::fake::api::{Ctx, Handled, Reply};
use crate::fake::codes;

/// Java `AclOperation` codes a group allows everyone: READ, DELETE, DESCRIBE.
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

/// DescribeGroups: members with metadata and assignment only when Stable,
/// as Java's `GroupMetadata.summary`.
pub(crate) fn describe_groups(ctx: &Ctx<'_>, req: &DescribeGroupsRequest, version: i16) -> Handled {
    let groups = req
        .groups
        .iter()
        .map(|id| {
            let mut d = match check_group(ctx, id.as_str(), true) {
                Err(code) => DescribedGroup::default().with_error_code(code),
                Ok(()) => ctx
                    .shared
                    .groups
                    .run(|groups, _| describe(groups.get(id.as_str()), version)),
            };
            d.group_id = id.clone();
            if version >= 3 && req.include_authorized_operations {
                d.authorized_operations = GROUP_OPERATIONS;
            }
            d
        })
        .collect();
    Handled::Reply(Reply::DescribeGroups(
        DescribeGroupsResponse::default().with_groups(groups),
    ))
}

fn describe(group: Option<&Group>, version: i16) -> DescribedGroup {
    let Some(g) = group.filter(|g| g.state != GroupState::Dead) else {
        let dead = DescribedGroup::default().with_group_state(s(GroupState::Dead.name()));
        // From v6 an unknown group is an error; before, it is described
        // as Dead with no error.
        return if version >= 6 {
            dead.with_error_code(codes::GROUP_ID_NOT_FOUND)
        } else {
            dead
        };
    };
    let stable = g.state == GroupState::Stable;
    let protocol = if stable {
        g.protocol_name.clone().unwrap_or_default()
    } else {
        String::new()
    };
    let members = g
        .members
        .iter()
        .map(|m| {
            let member = DescribedGroupMember::default()
                .with_member_id(s(m.id.clone()))
                .with_group_instance_id(m.instance_id.clone().filter(|_| version >= 4).map(s))
                .with_client_id(s(m.client_id.clone()))
                .with_client_host(s(m.client_host.clone()));
            if stable {
                member
                    .with_member_metadata(m.metadata(&protocol))
                    .with_member_assignment(m.assignment.clone())
            } else {
                member
            }
        })
        .collect();
    DescribedGroup::default()
        .with_group_state(s(g.state.name()))
        .with_protocol_type(s(g.protocol_type.clone().unwrap_or_default()))
        .with_protocol_data(s(protocol))
        .with_members(members)
}

/// DescribeGroups answered with `code` for every group (for intercepts).
pub(crate) fn describe_groups_error(
    req: &DescribeGroupsRequest,
    code: i16,
) -> DescribeGroupsResponse {
    let groups = req
        .groups
        .iter()
        .map(|id| {
            DescribedGroup::default()
                .with_group_id(id.clone())
                .with_error_code(code)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

/// ListGroups: the groups this broker coordinates, filtered by state (v4+,
/// case-insensitive) and type (v5+: all are classic groups).
pub(crate) fn list_groups(ctx: &Ctx<'_>, req: &ListGroupsRequest, version: i16) -> Handled {
    let states: BTreeSet<String> = req
        .states_filter
        .iter()
        .map(|st| st.as_str().to_lowercase())
        .collect();
    let classic = req.types_filter.is_empty()
        || req
            .types_filter
            .iter()
            .any(|t| t.as_str().eq_ignore_ascii_case("classic"));
    let brokers = ctx.shared.settings.brokers;
    let groups = ctx.shared.groups.run(|groups, _| {
        groups
            .values()
            .filter(|g| coordinator_for(&g.id, brokers) == ctx.broker)
            .filter(|g| g.state != GroupState::Dead && classic)
            .filter(|g| states.is_empty() || states.contains(&g.state.name().to_lowercase()))
            .map(|g| {
                let listed = ListedGroup::default()
                    .with_group_id(GroupId(s(g.id.clone())))
                    .with_protocol_type(s(g.protocol_type.clone().unwrap_or_default()));
                match version {
                    0..=3 => listed,
                    4 => listed.with_group_state(s(g.state.name())),
                    _ => listed
                        .with_group_state(s(g.state.name()))
                        .with_group_type(s("classic")),
                }
            })
            .collect()
    });
    Handled::Reply(Reply::ListGroups(
        ListGroupsResponse::default().with_groups(groups),
    ))
}

/// DeleteGroups: only an Empty group goes, with its offsets; a group with
/// members is NON_EMPTY_GROUP. A name given twice is answered once.
pub(crate) fn delete_groups(ctx: &Ctx<'_>, req: &DeleteGroupsRequest) -> Handled {
    let mut seen = BTreeSet::new();
    let results = req
        .groups_names
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .map(|id| {
            let code = match check_group(ctx, id.as_str(), true) {
                Err(code) => code,
                Ok(()) => ctx.shared.groups.run(|groups, _| {
                    match groups.get(id.as_str()).map(|g| g.state) {
                        None | Some(GroupState::Dead) => codes::GROUP_ID_NOT_FOUND,
                        Some(GroupState::Empty) => {
                            groups.remove(id.as_str());
                            codes::NONE
                        }
                        Some(_) => codes::NON_EMPTY_GROUP,
                    }
                }),
            };
            DeletableGroupResult::default()
                .with_group_id(id.clone())
                .with_error_code(code)
        })
        .collect();
    Handled::Reply(Reply::DeleteGroups(
        DeleteGroupsResponse::default().with_results(results),
    ))
}

/// DeleteGroups answered with `code` for every group (for intercepts).
pub(crate) fn delete_groups_error(req: &DeleteGroupsRequest, code: i16) -> DeleteGroupsResponse {
    let results = req
        .groups_names
        .iter()
        .map(|id| {
            DeletableGroupResult::default()
                .with_group_id(id.clone())
                .with_error_code(code)
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
