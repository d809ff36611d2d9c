//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup (Java
//! `GroupCoordinator.handleJoinGroup` and friends, with the per-version
//! request handling of `KafkaApis` / `GroupCoordinatorAdapter`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::messages::join_group_response::JoinGroupResponseMember;
use crate::messages::leave_group_response::MemberResponse;
use crate::messages::*;
use bytes::Bytes;

use super::group::Group;
use super::member::JoinArgs;
use super::tickets::{Answer, Env, Held, JoinResult, SyncResult};
use super::{check_group, GroupState};
use crate::fake::api::meta::{s, HOST};
use crate::fake::api::{Ctx, Handled, Reply};
use crate::fake::cluster::new_uuid;
use crate::fake::codes;

fn ms(v: i32) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

fn opt_str(v: &Option<crate::messages::StrBytes>) -> Option<String> {
    v.as_ref().map(|s| s.as_str().to_string())
}

/// A member id as Java's `GroupMetadata.generateMemberId` makes it:
/// `<group.instance.id or client id>-<uuid>`.
fn new_member_id(prefix: &str) -> String {
    let u = new_uuid();
    format!(
        "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        u >> 96,
        (u >> 80) & 0xffff,
        (u >> 64) & 0xffff,
        (u >> 48) & 0xffff,
        u & 0xffff_ffff_ffff
    )
}

/// JoinGroup. The connection thread blocks here, the groups lock
/// released, until the rebalance answers it.
pub(crate) fn join_group(
    ctx: &Ctx<'_>,
    client_id: &str,
    req: &JoinGroupRequest,
    version: i16,
) -> Handled {
    let member_id = req.member_id.as_str();
    if let Err(code) = check_group(ctx, req.group_id.as_str(), false) {
        return join_reply(JoinResult::error(member_id, code), version);
    }
    let instance_id = opt_str(&req.group_instance_id);
    // KIP-394: from v4 a dynamic member without an id is told its id first.
    let require_known = version >= 4 && instance_id.is_none();
    let args = JoinArgs {
        member_id: member_id.to_string(),
        instance_id,
        client_id: client_id.to_string(),
        client_host: format!("/{HOST}"),
        // v0 has no rebalance timeout: Java uses the session timeout.
        rebalance_timeout: ms(if version == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        }),
        session_timeout: ms(req.session_timeout_ms),
        protocol_type: req.protocol_type.as_str().to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.as_str().to_string(), p.metadata.clone()))
            .collect(),
    };
    let session_ms = req.session_timeout_ms;
    let group_id = req.group_id.as_str();
    let held = ctx.shared.groups.run(|groups, env| {
        let (min, max) = (
            env.settings.min_session_timeout,
            env.settings.max_session_timeout,
        );
        if session_ms < 0 || ms(session_ms) < min || ms(session_ms) > max {
            return Held::Now(JoinResult::error(member_id, codes::INVALID_SESSION_TIMEOUT));
        }
        join(groups, env, group_id, args, require_known, version >= 9)
    });
    match held {
        Held::Now(r) => join_reply(r, version),
        Held::Wait(t) => match ctx.shared.groups.wait(ctx, t) {
            Some(Answer::Join(r)) => join_reply(r, version),
            _ => Handled::Close,
        },
    }
}

/// Java `handleJoinGroup` after the status and session checks.
fn join(
    groups: &mut BTreeMap<String, Group>,
    env: &mut Env,
    group_id: &str,
    args: JoinArgs,
    require_known: bool,
    skip_supported: bool,
) -> Held<JoinResult> {
    let unknown = args.member_id.is_empty();
    if !unknown && !groups.contains_key(group_id) {
        return Held::Now(JoinResult::error(&args.member_id, codes::UNKNOWN_MEMBER_ID));
    }
    let g = groups
        .entry(group_id.to_string())
        .or_insert_with(|| Group::new(group_id));
    let held = if unknown {
        new_member_join(g, env, args, require_known, skip_supported)
    } else {
        current_member_join(g, env, args)
    };
    if g.state == GroupState::PreparingRebalance {
        g.try_complete_join(env);
    }
    held
}

/// Java `doNewMemberJoinGroup`.
fn new_member_join(
    g: &mut Group,
    env: &mut Env,
    args: JoinArgs,
    require_known: bool,
    skip_supported: bool,
) -> Held<JoinResult> {
    if g.state == GroupState::Dead {
        return Held::Now(JoinResult::error("", codes::COORDINATOR_NOT_AVAILABLE));
    }
    if !g.supports_protocols(&args.protocol_type, &args.protocols) {
        return Held::Now(JoinResult::error("", codes::INCONSISTENT_GROUP_PROTOCOL));
    }
    let new_id = new_member_id(args.instance_id.as_deref().unwrap_or(&args.client_id));
    if let Some(instance) = args.instance_id.as_deref() {
        if let Some(old) = g.static_member(instance).map(str::to_string) {
            return update_static_member(g, env, &old, new_id, args, skip_supported);
        }
    } else if require_known {
        g.add_pending(new_id.clone(), args.session_timeout, env);
        return Held::Now(JoinResult::error(&new_id, codes::MEMBER_ID_REQUIRED));
    }
    Held::Wait(g.add_member_and_rebalance(new_id, args, env))
}

/// Java `doCurrentMemberJoinGroup`.
fn current_member_join(g: &mut Group, env: &mut Env, args: JoinArgs) -> Held<JoinResult> {
    let id = args.member_id.clone();
    let fail = |code| Held::Now(JoinResult::error(&id, code));
    if g.state == GroupState::Dead {
        return fail(codes::COORDINATOR_NOT_AVAILABLE);
    }
    if !g.supports_protocols(&args.protocol_type, &args.protocols) {
        return fail(codes::INCONSISTENT_GROUP_PROTOCOL);
    }
    if g.is_pending(&id) {
        if args.instance_id.is_some() {
            // Java throws IllegalStateException here: a pending member is
            // never static.
            return fail(codes::UNKNOWN_SERVER_ERROR);
        }
        return Held::Wait(g.add_member_and_rebalance(id.clone(), args, env));
    }
    if let Err(code) = g.validate_member(&id, args.instance_id.as_deref()) {
        return fail(code);
    }
    let (is_leader, matches) = match g.members.iter().find(|m| m.id == id) {
        Some(m) => (g.is_leader(&id), m.matches(&args.protocols)),
        None => return fail(codes::UNKNOWN_MEMBER_ID),
    };
    let rebalance = match g.state {
        GroupState::PreparingRebalance => true,
        // A member that lost its JoinGroup answer gets it again.
        GroupState::CompletingRebalance => !matches,
        // The leader rejoining forces a rebalance (it may have seen
        // metadata change); a follower with unchanged metadata does not.
        GroupState::Stable => is_leader || !matches,
        GroupState::Empty | GroupState::Dead => return fail(codes::UNKNOWN_MEMBER_ID),
    };
    if rebalance {
        return match g.update_member_and_rebalance(&id, args, env) {
            Some(t) => Held::Wait(t),
            None => fail(codes::UNKNOWN_MEMBER_ID),
        };
    }
    let with_members = g.state == GroupState::CompletingRebalance;
    Held::Now(g.join_result(&id, with_members))
}

/// Java `updateStaticMemberAndRebalance`: a known `group.instance.id`
/// joins with no member id (a restart). The old member id is fenced and
/// the member keeps its place; a stable group whose protocol choice does
/// not change answers at once without a rebalance (KIP-345).
fn update_static_member(
    g: &mut Group,
    env: &mut Env,
    old: &str,
    new_id: String,
    args: JoinArgs,
    skip_supported: bool,
) -> Held<JoinResult> {
    let current_leader = g.leader.clone().unwrap_or_default();
    g.replace_static_member(old, &new_id, env);
    if let Some(m) = g.member_mut(&new_id) {
        m.heard_from(env);
    }
    let Some(ticket) = g.update_member(&new_id, args, env) else {
        return Held::Now(JoinResult::error("", codes::UNKNOWN_MEMBER_ID));
    };
    match g.state {
        GroupState::Stable => {
            if g.select_protocol() == g.protocol_name {
                let result = if skip_supported {
                    // v9+: the leader learns it leads but skips assigning
                    // (KIP-814), since a stable group would ignore it.
                    let leads = g.is_leader(&new_id);
                    JoinResult {
                        skip_assignment: leads,
                        ..g.join_result(&new_id, true)
                    }
                } else {
                    // Older clients get the old leader id, so a restarted
                    // leader does not run a pointless assignment.
                    JoinResult {
                        leader: current_leader,
                        ..g.join_result(&new_id, false)
                    }
                };
                g.answer_join(&new_id, result, env);
            } else {
                g.maybe_prepare_rebalance(env);
            }
        }
        // The leader may already be assigning to the old member id.
        GroupState::CompletingRebalance => g.prepare_rebalance(env),
        GroupState::PreparingRebalance => {}
        GroupState::Empty | GroupState::Dead => g.answer_join(
            &new_id,
            JoinResult::error("", codes::UNKNOWN_SERVER_ERROR),
            env,
        ),
    }
    Held::Wait(ticket)
}

fn join_reply(r: JoinResult, version: i16) -> Handled {
    Handled::Reply(Reply::JoinGroup(join_response(r, version)))
}

fn join_response(r: JoinResult, version: i16) -> JoinGroupResponse {
    let members = r
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(s(m.member_id))
                .with_group_instance_id(m.instance_id.filter(|_| version >= 5).map(s))
                .with_metadata(m.metadata)
        })
        .collect();
    // The protocol name is nullable only from v7 (Java writes "").
    let protocol_name = match r.protocol_name {
        None if version < 7 => Some(String::new()),
        other => other,
    };
    JoinGroupResponse::default()
        .with_error_code(r.error)
        .with_generation_id(r.generation)
        .with_protocol_type(r.protocol_type.map(s))
        .with_protocol_name(protocol_name.map(s))
        .with_leader(s(r.leader))
        .with_skip_assignment(version >= 9 && r.skip_assignment)
        .with_member_id(s(r.member_id))
        .with_members(members)
}

/// JoinGroup answered with `code` (for intercepts).
pub(crate) fn join_group_error(
    req: &JoinGroupRequest,
    version: i16,
    code: i16,
) -> JoinGroupResponse {
    join_response(JoinResult::error(req.member_id.as_str(), code), version)
}

/// SyncGroup. A follower's request is held until the leader's arrives.
pub(crate) fn sync_group(ctx: &Ctx<'_>, req: &SyncGroupRequest, version: i16) -> Handled {
    let held = match check_group(ctx, req.group_id.as_str(), false) {
        // Java answers a loading coordinator REBALANCE_IN_PROGRESS; the
        // fake never loads.
        Err(code) => Held::Now(SyncResult::error(code)),
        Ok(()) => ctx.shared.groups.run(|groups, env| sync(groups, env, req)),
    };
    let result = match held {
        Held::Now(r) => r,
        Held::Wait(t) => match ctx.shared.groups.wait(ctx, t) {
            Some(Answer::Sync(r)) => r,
            _ => return Handled::Close,
        },
    };
    Handled::Reply(Reply::SyncGroup(sync_response(result, version)))
}

/// Java `doSyncGroup` with `validateSyncGroup`.
fn sync(
    groups: &mut BTreeMap<String, Group>,
    env: &mut Env,
    req: &SyncGroupRequest,
) -> Held<SyncResult> {
    let fail = |code| Held::Now(SyncResult::error(code));
    let Some(g) = groups.get_mut(req.group_id.as_str()) else {
        return fail(codes::UNKNOWN_MEMBER_ID);
    };
    if g.state == GroupState::Dead {
        return fail(codes::COORDINATOR_NOT_AVAILABLE);
    }
    let id = req.member_id.as_str();
    let instance = req.group_instance_id.as_ref().map(|s| s.as_str());
    if let Err(code) = g.validate_member(id, instance) {
        return fail(code);
    }
    if req.generation_id != g.generation {
        return fail(codes::ILLEGAL_GENERATION);
    }
    // v5+: the protocol type and name, when sent, must be the group's.
    let differs = |sent: &Option<crate::messages::StrBytes>, have: &Option<String>| {
        sent.as_ref()
            .is_some_and(|v| have.as_deref() != Some(v.as_str()))
    };
    if differs(&req.protocol_type, &g.protocol_type)
        || differs(&req.protocol_name, &g.protocol_name)
    {
        return fail(codes::INCONSISTENT_GROUP_PROTOCOL);
    }
    match g.state {
        GroupState::Empty | GroupState::Dead => fail(codes::UNKNOWN_MEMBER_ID),
        GroupState::PreparingRebalance => fail(codes::REBALANCE_IN_PROGRESS),
        GroupState::CompletingRebalance => {
            let ticket = env.tickets.issue();
            if let Some(m) = g.member_mut(id) {
                if let Some(old) = m.awaiting_sync.replace(ticket) {
                    env.tickets.abandon(old);
                }
            }
            g.synced(id);
            if g.is_leader(id) {
                // Later entries for the same member win, as in Java's map.
                let assignment: HashMap<String, Bytes> = req
                    .assignments
                    .iter()
                    .map(|a| (a.member_id.as_str().to_string(), a.assignment.clone()))
                    .collect();
                g.set_and_propagate(&assignment, env);
                g.state = GroupState::Stable;
            }
            Held::Wait(ticket)
        }
        GroupState::Stable => {
            g.synced(id);
            let (protocol_type, protocol_name) = (g.protocol_type.clone(), g.protocol_name.clone());
            let Some(m) = g.member_mut(id) else {
                return fail(codes::UNKNOWN_MEMBER_ID);
            };
            m.heard_from(env);
            Held::Now(SyncResult {
                error: codes::NONE,
                protocol_type,
                protocol_name,
                assignment: m.assignment.clone(),
            })
        }
    }
}

fn sync_response(r: SyncResult, version: i16) -> SyncGroupResponse {
    let mut resp = SyncGroupResponse::default()
        .with_error_code(r.error)
        .with_assignment(r.assignment);
    if version >= 5 {
        resp.protocol_type = r.protocol_type.map(s);
        resp.protocol_name = r.protocol_name.map(s);
    }
    resp
}

/// SyncGroup answered with `code` (for intercepts).
pub(crate) fn sync_group_error(version: i16, code: i16) -> SyncGroupResponse {
    sync_response(SyncResult::error(code), version)
}

/// Heartbeat (Java `handleHeartbeat`): restarts the member's session.
pub(crate) fn heartbeat(ctx: &Ctx<'_>, req: &HeartbeatRequest) -> Handled {
    let code = match check_group(ctx, req.group_id.as_str(), false) {
        Err(code) => code,
        Ok(()) => ctx.shared.groups.run(|groups, env| beat(groups, env, req)),
    };
    Handled::Reply(Reply::Heartbeat(
        HeartbeatResponse::default().with_error_code(code),
    ))
}

fn beat(groups: &mut BTreeMap<String, Group>, env: &Env, req: &HeartbeatRequest) -> i16 {
    let Some(g) = groups.get_mut(req.group_id.as_str()) else {
        return codes::UNKNOWN_MEMBER_ID;
    };
    if g.state == GroupState::Dead {
        return codes::COORDINATOR_NOT_AVAILABLE;
    }
    let id = req.member_id.as_str();
    let instance = req.group_instance_id.as_ref().map(|s| s.as_str());
    if let Err(code) = g.validate_member(id, instance) {
        return code;
    }
    if req.generation_id != g.generation {
        return codes::ILLEGAL_GENERATION;
    }
    let state = g.state;
    if state == GroupState::Empty {
        return codes::UNKNOWN_MEMBER_ID;
    }
    if let Some(m) = g.member_mut(id) {
        m.heard_from(env);
    }
    if state == GroupState::PreparingRebalance {
        codes::REBALANCE_IN_PROGRESS
    } else {
        codes::NONE
    }
}

/// LeaveGroup (Java `handleLeaveGroup`): v0-2 name one member by id, v3+
/// a batch (KIP-345), each by member id or, with an empty member id, by
/// `group.instance.id` alone (an admin removing a static member).
pub(crate) fn leave_group(ctx: &Ctx<'_>, req: &LeaveGroupRequest, version: i16) -> Handled {
    let leaving: Vec<(String, Option<String>)> = if version <= 2 {
        vec![(req.member_id.as_str().to_string(), None)]
    } else {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.as_str().to_string(),
                    opt_str(&m.group_instance_id),
                )
            })
            .collect()
    };
    let (top, members) = match check_group(ctx, req.group_id.as_str(), false) {
        Err(code) => (code, Vec::new()),
        Ok(()) => ctx
            .shared
            .groups
            .run(|groups, env| leave(groups, env, req.group_id.as_str(), leaving)),
    };
    Handled::Reply(Reply::LeaveGroup(leave_response(top, members, version)))
}

type Left = (String, Option<String>, i16);

fn leave(
    groups: &mut BTreeMap<String, Group>,
    env: &mut Env,
    group_id: &str,
    leaving: Vec<(String, Option<String>)>,
) -> (i16, Vec<Left>) {
    let Some(g) = groups.get_mut(group_id) else {
        let unknown = leaving
            .into_iter()
            .map(|(id, instance)| (id, instance, codes::UNKNOWN_MEMBER_ID))
            .collect();
        return (codes::NONE, unknown);
    };
    if g.state == GroupState::Dead {
        return (codes::COORDINATOR_NOT_AVAILABLE, Vec::new());
    }
    let results = leaving
        .into_iter()
        .map(|(id, instance)| {
            let code = if id.is_empty() {
                match instance.as_deref().and_then(|i| g.static_member(i)) {
                    Some(current) => {
                        let current = current.to_string();
                        g.remove_member_and_update(&current, env);
                        codes::NONE
                    }
                    None => codes::UNKNOWN_MEMBER_ID,
                }
            } else if g.is_pending(&id) {
                g.remove_pending_and_update(&id, env);
                codes::NONE
            } else {
                match g.validate_member(&id, instance.as_deref()) {
                    Ok(()) => {
                        g.remove_member_and_update(&id, env);
                        codes::NONE
                    }
                    Err(code) => code,
                }
            };
            (id, instance, code)
        })
        .collect();
    (codes::NONE, results)
}

/// Java `LeaveGroupResponse`: before v3 the first member error (or the
/// group's) is the only error; from v3 each member has its own.
fn leave_response(top: i16, members: Vec<Left>, version: i16) -> LeaveGroupResponse {
    if version <= 2 {
        let code = if top != codes::NONE {
            top
        } else {
            members
                .iter()
                .map(|(_, _, c)| *c)
                .find(|c| *c != codes::NONE)
                .unwrap_or(codes::NONE)
        };
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let members = members
        .into_iter()
        .map(|(id, instance, code)| {
            MemberResponse::default()
                .with_member_id(s(id))
                .with_group_instance_id(instance.map(s))
                .with_error_code(code)
        })
        .collect();
    LeaveGroupResponse::default()
        .with_error_code(top)
        .with_members(members)
}

/// LeaveGroup answered with `code` (for intercepts).
pub(crate) fn leave_group_error(version: i16, code: i16) -> LeaveGroupResponse {
    leave_response(code, Vec::new(), version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_look_like_java() {
        let id = new_member_id("client");
        let uuid = id.strip_prefix("client-").unwrap();
        let parts: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12], "{id}");
        assert_ne!(new_member_id("c"), new_member_id("c"));
    }
}
