//! The generator of `src/messages/generated.rs` from `src/messages/schema.def`,
//! run as a test: it fails when the checked-in file differs from what the
//! definitions produce. `KAFKA_SYNC_REGENERATE=1 cargo test --test
//! messages_codegen` rewrites the file.
//!
//! # The definition form
//!
//! ```text
//! message <Name> <request|response|header|data> [key=<n>] versions=<v> flex=<v> [unstable] {
//!   <field_name> <type> v<versions> [null=<v>] [tag=<n> tagged=<v>] [flex=<v>]
//!       [default=<value>] [ignorable] [entity=<kind>] [mapkey] [{]  [// about]
//!   ...
//!   common <StructName> v<versions> {
//!     <fields>
//!   }
//! }
//! ```
//!
//! A version set `<v>` is `3+`, `3-5`, `3` or `none`. Types are `bool`,
//! `int8`, `int16`, `uint16`, `int32`, `uint32`, `int64`, `float64`,
//! `string`, `bytes`, `records`, `uuid`, a struct name, or `[]` before any
//! of them. A field whose type is a struct not listed as `common` opens a
//! block with its fields.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

#[path = "support/schema_def.rs"]
mod schema_def;
use schema_def::*;

// ---------------------------------------------------------------------------
// Generation.

fn module_name(name: &str) -> String {
    let mut s = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev_lower = chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit();
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev_lower || (next_lower && chars[i - 1].is_uppercase()) {
                s.push('_');
            }
        }
        s.extend(c.to_lowercase());
    }
    s
}

fn field_ident(name: &str) -> String {
    match name {
        "type" | "match" | "struct" | "enum" | "fn" | "mod" | "ref" | "self" | "use" => {
            format!("_{name}")
        }
        _ => name.into(),
    }
}

/// The Rust type of a value of `ty` (nullability not included).
fn rust_ty(ty: &Ty, entity: Option<&str>) -> String {
    match ty {
        Ty::Array(inner) => format!("Vec<{}>", rust_ty(inner, entity)),
        Ty::Struct(s) => s.clone(),
        Ty::Prim(p) => {
            if let Some(e) = entity_newtype(p, entity) {
                return e.into();
            }
            match p.as_str() {
                "bool" => "bool",
                "int8" => "i8",
                "int16" => "i16",
                "uint16" => "u16",
                "int32" => "i32",
                "uint32" => "u32",
                "int64" => "i64",
                "float64" => "f64",
                "string" => "StrBytes",
                "bytes" | "records" => "Bytes",
                "uuid" => "Uuid",
                _ => unreachable!("prim {p}"),
            }
            .into()
        }
    }
}

fn entity_newtype(prim: &str, entity: Option<&str>) -> Option<&'static str> {
    match (prim, entity?) {
        ("string", "topicName") => Some("TopicName"),
        ("string", "groupId") => Some("GroupId"),
        ("string", "transactionalId") => Some("TransactionalId"),
        ("int32", "brokerId") => Some("BrokerId"),
        ("int64", "producerId") => Some("ProducerId"),
        _ => None,
    }
}

fn field_ty(f: &Field) -> String {
    let t = rust_ty(&f.ty, f.entity.as_deref());
    if f.nullable.is_none() {
        t
    } else {
        format!("Option<{t}>")
    }
}

fn parse_int(d: &str) -> Option<i128> {
    let (neg, d) = match d.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, d),
    };
    let v = match d.strip_prefix("0x").or_else(|| d.strip_prefix("0X")) {
        Some(h) => i128::from_str_radix(h, 16).ok()?,
        None => d.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// The default value expression of a field (nullability included).
fn default_expr(f: &Field) -> Result<String, String> {
    let d = f.default.as_deref();
    if !f.nullable.is_none() && d == Some("null") {
        return Ok("None".into());
    }
    let inner = match &f.ty {
        Ty::Array(_) => "Vec::new()".to_string(),
        Ty::Struct(s) => format!("{s}::default()"),
        Ty::Prim(p) => {
            let base = match p.as_str() {
                "bool" => match d {
                    None | Some("false") => "false".to_string(),
                    Some("true") => "true".to_string(),
                    Some(o) => return Err(format!("{}: bool default {o}", f.name)),
                },
                "int8" | "int16" | "uint16" | "int32" | "uint32" | "int64" => {
                    let v = match d {
                        None => 0,
                        Some(d) => parse_int(d).ok_or(format!("{}: int default {d}", f.name))?,
                    };
                    let t = rust_ty(&Ty::Prim(p.clone()), None);
                    format!("{v}{t}")
                }
                "float64" => match d {
                    None => "0.0".into(),
                    Some(d) => {
                        let v: f64 = d.parse().map_err(|_| format!("{}: float {d}", f.name))?;
                        format!("{v:?}")
                    }
                },
                "string" => match d {
                    None => "StrBytes::new()".into(),
                    Some(s) => {
                        let s = s.trim_matches('"');
                        if s.is_empty() {
                            "StrBytes::new()".into()
                        } else {
                            format!("StrBytes::from_static_str({s:?})")
                        }
                    }
                },
                "bytes" | "records" => "Bytes::new()".into(),
                "uuid" => "Uuid::nil()".into(),
                _ => unreachable!(),
            };
            match entity_newtype(p, f.entity.as_deref()) {
                Some(nt) => format!("{nt}({base})"),
                None => base,
            }
        }
    };
    Ok(if f.nullable.is_none() {
        inner
    } else {
        format!("Some({inner})")
    })
}

/// The default as a typed block, for comparisons.
fn typed_default(f: &Field) -> Result<String, String> {
    Ok(format!(
        "{{ let d: {} = {}; d }}",
        field_ty(f),
        default_expr(f)?
    ))
}

fn null_kind(ty: &Ty) -> &'static str {
    match ty {
        Ty::Array(_) => "Array",
        Ty::Struct(_) => "Struct",
        Ty::Prim(p) if p == "string" => "String",
        _ => "Bytes",
    }
}

/// Statements that encode the value at reference `val` of type `ty` into
/// `buf`; `c` is the compact-encoding expression.
fn enc_value(ty: &Ty, entity: Option<&str>, val: &str, c: &str, depth: usize) -> String {
    match ty {
        Ty::Array(inner) => {
            let e = format!("e{depth}");
            format!(
                "wire::put_len(buf, ({val}).len(), {c})?; for {e} in ({val}).iter() {{ {} }}",
                enc_value(inner, entity, &e, c, depth + 1)
            )
        }
        Ty::Struct(_) => format!("({val}).encode_fields(buf, version)?;"),
        Ty::Prim(p) => {
            let nt = entity_newtype(p, entity).is_some();
            let v = if nt {
                format!("({val}).0")
            } else {
                format!("(*{val})")
            };
            match p.as_str() {
                "bool" => format!("buf.push({v} as u8);"),
                "int8" | "int16" | "uint16" | "int32" | "uint32" | "int64" | "float64" => {
                    format!("buf.extend_from_slice(&{v}.to_be_bytes());")
                }
                "string" => format!("wire::put_str(buf, &{val}, {c})?;"),
                "bytes" | "records" => format!("wire::put_bytes(buf, &{val}, {c})?;"),
                "uuid" => format!("buf.extend_from_slice(({val}).as_bytes());"),
                _ => unreachable!(),
            }
        }
    }
}

/// An expression decoding a value of type `ty` from `buf`.
fn dec_value(ty: &Ty, entity: Option<&str>, c: &str) -> String {
    match ty {
        Ty::Array(inner) => format!(
            "wire::get_array(buf, {c}, |buf| Ok({}))?",
            dec_value(inner, entity, c)
        ),
        Ty::Struct(s) => format!("{s}::decode_fields(buf, version)?"),
        Ty::Prim(p) => {
            let base = match p.as_str() {
                "bool" => "wire::get_bool(buf)?".to_string(),
                "int8" => "wire::get_i8(buf)?".into(),
                "int16" => "wire::get_i16(buf)?".into(),
                "uint16" => "wire::get_u16(buf)?".into(),
                "int32" => "wire::get_i32(buf)?".into(),
                "uint32" => "wire::get_u32(buf)?".into(), // (no schema uses it yet)
                "int64" => "wire::get_i64(buf)?".into(),
                "float64" => "wire::get_f64(buf)?".into(),
                "string" => format!("wire::get_str(buf, {c})?"),
                "bytes" | "records" => format!("wire::get_bytes(buf, {c})?"),
                "uuid" => "wire::get_uuid(buf)?".into(),
                _ => unreachable!(),
            };
            match entity_newtype(p, entity) {
                Some(nt) => format!("{nt}({base})"),
                None => base,
            }
        }
    }
}

/// Whether a value of this type can be null on the wire, and how.
fn dec_nullable(ty: &Ty, entity: Option<&str>, c: &str) -> String {
    match ty {
        Ty::Array(inner) => format!(
            "wire::get_nullable_array(buf, {c}, |buf| Ok({}))?",
            dec_value(inner, entity, c)
        ),
        Ty::Struct(s) => format!(
            "if wire::get_i8(buf)? < 0 {{ None }} else {{ Some({s}::decode_fields(buf, version)?) }}"
        ),
        Ty::Prim(p) => {
            let base = match p.as_str() {
                "string" => format!("wire::get_nullable_str(buf, {c})?"),
                _ => format!("wire::get_nullable_bytes(buf, {c})?"),
            };
            match entity_newtype(p, entity) {
                Some(nt) => format!("{base}.map({nt})"),
                None => base,
            }
        }
    }
}

struct Gen<'a> {
    msg: &'a Msg,
    out: String,
    structs: BTreeSet<String>,
}

impl Gen<'_> {
    fn compact(&self, f: &Field) -> String {
        match f.flex {
            Some(v) if v.is_none() => "false".into(),
            Some(v) => v.cond(self.msg.versions).unwrap_or_else(|| "true".into()),
            None => "flexible".into(),
        }
    }

    fn struct_def(&mut self, name: &str, fields: &[Field], top: bool) -> Result<(), String> {
        if !self.structs.insert(name.to_string()) {
            return Ok(());
        }
        for f in fields {
            if !f.fields.is_empty() {
                if let Ty::Struct(s) = struct_of(&f.ty) {
                    self.struct_def(&s, &f.fields, false)?;
                }
            }
        }
        let m = self.msg;
        let out = &mut self.out;
        if top {
            let _ = writeln!(
                out,
                "/// {} (valid versions: {}, flexible: {}).",
                m.name,
                m.versions.doc(),
                m.flex.doc()
            );
        } else {
            let _ = writeln!(out, "/// A `{name}` of [`{}`].", m.name);
        }
        let _ = writeln!(out, "#[non_exhaustive]\n#[derive(Debug, Clone, PartialEq)]");
        let _ = writeln!(out, "pub struct {name} {{");
        for f in fields {
            let mut doc = f.about.replace('[', "\\[").replace(']', "\\]");
            if !doc.is_empty() && !doc.ends_with('.') {
                doc.push('.');
            }
            let _ = write!(out, "    /// {doc}");
            if !doc.is_empty() {
                out.push(' ');
            }
            let _ = write!(out, "Versions: {}", f.versions.doc());
            if !f.nullable.is_none() {
                let _ = write!(out, "; nullable: {}", f.nullable.doc());
            }
            if let Some(t) = f.tag {
                let _ = write!(out, "; tag {t} in {}", f.tagged.doc());
            }
            let _ = writeln!(out, ".\n    pub {}: {},", field_ident(&f.name), field_ty(f));
        }
        let _ = writeln!(
            out,
            "    /// Tagged fields these schemas do not know, by tag, kept as read.\n    pub unknown_tagged_fields: BTreeMap<i32, Bytes>,\n}}\n"
        );
        // Default.
        let _ = writeln!(
            out,
            "impl Default for {name} {{\n    fn default() -> Self {{\n        {name} {{"
        );
        for f in fields {
            let _ = writeln!(
                out,
                "            {}: {},",
                field_ident(&f.name),
                default_expr(f)?
            );
        }
        let _ = writeln!(
            out,
            "            unknown_tagged_fields: BTreeMap::new(),\n        }}\n    }}\n}}\n"
        );
        // Setters.
        let _ = writeln!(out, "impl {name} {{");
        for f in fields {
            let id = field_ident(&f.name);
            let _ = writeln!(
                out,
                "    /// Sets `{id}`.\n    pub fn with_{}(mut self, value: {}) -> Self {{\n        self.{id} = value;\n        self\n    }}",
                f.name,
                field_ty(f)
            );
        }
        let _ = writeln!(
            out,
            "    /// Sets `unknown_tagged_fields`.\n    pub fn with_unknown_tagged_fields(mut self, value: BTreeMap<i32, Bytes>) -> Self {{\n        self.unknown_tagged_fields = value;\n        self\n    }}"
        );
        self.encode_fn(name, fields)?;
        self.decode_fn(name, fields)?;
        self.out.push_str("}\n\n");
        if !top {
            let _ = writeln!(
                self.out,
                "impl Encodable for {name} {{\n    fn encode_vec(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {{\n        self.encode_fields(buf, version)\n    }}\n}}\n\nimpl Decodable for {name} {{\n    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{\n        Self::decode_fields(buf, version)\n    }}\n}}\n"
            );
        }
        Ok(())
    }

    fn flexible_decl(&self) -> String {
        match self.msg.flex.cond(self.msg.versions) {
            None if !self.msg.flex.is_none() => "let flexible = true;".into(),
            Some(c) => format!("let flexible = {c};"),
            None => "let flexible = false;".into(),
        }
    }

    /// Where a field is in `version`: regular, tagged, or absent.
    fn placement(&self, f: &Field) -> (Option<String>, Option<String>) {
        let within = self.msg.versions;
        let tagged = if f.tag.is_some() {
            let t = f.tagged.intersect(self.msg.flex).intersect(f.versions);
            if t.is_none() {
                None
            } else {
                Some(t.cond(within).unwrap_or_else(|| "true".into()))
            }
        } else {
            None
        };
        // Regular in its versions minus the tagged ones.
        let regular = if f.tag.is_some() {
            let t = f.tagged.intersect(f.versions);
            if t == f.versions.intersect(within) || f.versions.intersect(within).is_none() {
                None
            } else if t.is_none() {
                Some(f.versions.cond(within).unwrap_or_else(|| "true".into()))
            } else {
                // Tagged from some version on, regular before (not seen in
                // Kafka's definitions; kept simple).
                Some(format!(
                    "{} && !({})",
                    f.versions.cond(within).unwrap_or_else(|| "true".into()),
                    t.cond(within).unwrap_or_else(|| "true".into())
                ))
            }
        } else if f.versions.intersect(within).is_none() {
            None
        } else {
            Some(f.versions.cond(within).unwrap_or_else(|| "true".into()))
        };
        (regular, tagged)
    }

    fn enc_field(&self, f: &Field, val: &str) -> String {
        let c = self.compact(f);
        let id = field_ident(&f.name);
        let within = self.msg.versions;
        if f.nullable.is_none() {
            return enc_value(&f.ty, f.entity.as_deref(), val, &c, 0);
        }
        let kind = null_kind(&f.ty);
        let some = match &f.ty {
            Ty::Struct(_) => format!(
                "buf.push(1); {}",
                enc_value(&f.ty, f.entity.as_deref(), "x", &c, 0)
            ),
            _ => enc_value(&f.ty, f.entity.as_deref(), "x", &c, 0),
        };
        let none = match f.nullable.cond(within) {
            None => format!("wire::put_null(buf, wire::Null::{kind}, {c})"),
            Some(cond) => format!(
                "if {cond} {{ wire::put_null(buf, wire::Null::{kind}, {c}) }} else {{ return Err(EncodeError::null(\"{id}\", version)); }}"
            ),
        };
        format!("match {val} {{ Some(x) => {{ {some} }} None => {{ {none} }} }}")
    }

    fn encode_fn(&mut self, name: &str, fields: &[Field]) -> Result<(), String> {
        let mut b = String::new();
        let _ = writeln!(
            b,
            "    pub(crate) fn encode_fields(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {{\n        {}",
            self.flexible_decl()
        );
        let mut tagged_fields = Vec::new();
        for f in fields {
            let id = field_ident(&f.name);
            let (regular, tagged) = self.placement(f);
            let val = format!("&self.{id}");
            if tagged.is_some() {
                tagged_fields.push((f, tagged.clone().unwrap_or_default()));
            }
            // Java's rule (MessageDataGenerator): a field the version lacks
            // is dropped when it is ignorable or at its default, else it is
            // an error naming it.
            let absent = if f.ignorable {
                String::new()
            } else {
                format!(
                    "if self.{id} != {} {{ return Err(EncodeError::absent(\"{id}\", version)); }}",
                    typed_default(f)?
                )
            };
            let enc = self.enc_field(f, &val);
            if absent.is_empty() {
                match regular {
                    Some(r) if r == "true" => {
                        let _ = writeln!(b, "        {{ {enc} }}");
                    }
                    Some(r) => {
                        let _ = writeln!(b, "        if {r} {{ {enc} }}");
                    }
                    None => {}
                }
                continue;
            }
            match (regular, &tagged) {
                (Some(r), _) if r == "true" => {
                    let _ = writeln!(b, "        {{ {enc} }}");
                }
                (Some(r), Some(t)) => {
                    let _ = writeln!(
                        b,
                        "        if {r} {{ {enc} }} else if !({t}) {{ {absent} }}"
                    );
                }
                (Some(r), None) => {
                    let _ = writeln!(b, "        if {r} {{ {enc} }} else {{ {absent} }}");
                }
                (None, Some(t)) if t == "true" => {}
                (None, Some(t)) => {
                    let _ = writeln!(b, "        if !({t}) {{ {absent} }}");
                }
                (None, None) => {
                    let _ = writeln!(b, "        {absent}");
                }
            }
        }
        tagged_fields.sort_by_key(|(f, _)| f.tag);
        if self.msg.flex.is_none() {
            let _ = writeln!(
                b,
                "        if !self.unknown_tagged_fields.is_empty() {{ return Err(EncodeError::absent(\"unknown_tagged_fields\", version)); }}"
            );
        } else {
            let _ = writeln!(b, "        if flexible {{");
            if tagged_fields.is_empty() {
                let _ = writeln!(
                    b,
                    "            wire::put_tagged(buf, Vec::new(), &self.unknown_tagged_fields)?;"
                );
            } else {
                let _ = writeln!(
                    b,
                    "            let mut tagged: Vec<(i32, Vec<u8>)> = Vec::new();"
                );
                for (f, cond) in &tagged_fields {
                    let id = field_ident(&f.name);
                    let tag = f.tag.unwrap_or(0);
                    let enc = self.enc_field(f, &format!("&self.{id}"));
                    let _ = writeln!(
                        b,
                        "            if {cond} && self.{id} != {} {{ let mut tb = Vec::new(); {{ let buf = &mut tb; {enc} }} tagged.push(({tag}, tb)); }}",
                        typed_default(f)?
                    );
                }
                let _ = writeln!(
                    b,
                    "            wire::put_tagged(buf, tagged, &self.unknown_tagged_fields)?;"
                );
            }
            let _ = writeln!(
                b,
                "        }} else if !self.unknown_tagged_fields.is_empty() {{\n            return Err(EncodeError::absent(\"unknown_tagged_fields\", version));\n        }}"
            );
        }
        let _ = writeln!(b, "        Ok(())\n    }}");
        let _ = name;
        self.out.push_str(&b);
        Ok(())
    }

    fn dec_field(&self, f: &Field) -> String {
        let c = self.compact(f);
        let within = self.msg.versions;
        if f.nullable.is_none() {
            return dec_value(&f.ty, f.entity.as_deref(), &c);
        }
        let nullable = dec_nullable(&f.ty, f.entity.as_deref(), &c);
        match f.nullable.cond(within) {
            None => nullable,
            Some(cond) => format!(
                "if {cond} {{ {nullable} }} else {{ Some({}) }}",
                dec_value(&f.ty, f.entity.as_deref(), &c)
            ),
        }
    }

    fn decode_fn(&mut self, name: &str, fields: &[Field]) -> Result<(), String> {
        let mut b = String::new();
        let _ = writeln!(
            b,
            "    pub(crate) fn decode_fields(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{\n        {}",
            self.flexible_decl()
        );
        let mut tagged_fields = Vec::new();
        for f in fields {
            let id = field_ident(&f.name);
            let (regular, tagged) = self.placement(f);
            if let Some(t) = &tagged {
                tagged_fields.push((f, t.clone()));
            }
            let wrap = wrap_field(&self.dec_field(f), &id);
            match regular {
                Some(r) if r == "true" => {
                    let _ = writeln!(
                        b,
                        "        let {mutability}f_{id} = {wrap};",
                        mutability = if tagged.is_some() { "mut " } else { "" }
                    );
                }
                Some(r) => {
                    let _ = writeln!(
                        b,
                        "        let mut f_{id} = {};\n        if {r} {{ f_{id} = {wrap}; }}",
                        default_expr(f)?
                    );
                }
                None => {
                    let m = if tagged.is_some() { "mut " } else { "" };
                    let _ = writeln!(b, "        let {m}f_{id} = {};", default_expr(f)?);
                }
            }
        }
        let _ = writeln!(
            b,
            "        let mut unknown_tagged_fields = BTreeMap::new();"
        );
        if !self.msg.flex.is_none() {
            let _ = writeln!(b, "        if flexible {{");
            let _ = writeln!(
                b,
                "            for _ in 0..wire::get_count(buf)? {{\n                let (tag, mut data) = wire::get_tagged(buf)?;\n                let buf = &mut data;"
            );
            if tagged_fields.is_empty() {
                let _ = writeln!(
                    b,
                    "                unknown_tagged_fields.insert(tag, buf.clone());"
                );
            } else {
                let _ = writeln!(b, "                match tag {{");
                tagged_fields.sort_by_key(|(f, _)| f.tag);
                for (f, cond) in &tagged_fields {
                    let id = field_ident(&f.name);
                    let wrap = wrap_field(&self.dec_field(f), &id);
                    let guard = if cond == "true" {
                        String::new()
                    } else {
                        format!(" if {cond}")
                    };
                    let _ = writeln!(
                        b,
                        "                    {}{guard} => {{ f_{id} = {wrap}; }}",
                        f.tag.unwrap_or(0)
                    );
                }
                let _ = writeln!(
                    b,
                    "                    _ => {{ unknown_tagged_fields.insert(tag, buf.clone()); }}\n                }}"
                );
            }
            let _ = writeln!(b, "            }}\n        }}");
        }
        let _ = writeln!(b, "        Ok({name} {{");
        for f in fields {
            let id = field_ident(&f.name);
            let _ = writeln!(b, "            {id}: f_{id},");
        }
        let _ = writeln!(b, "            unknown_tagged_fields,\n        }})\n    }}");
        self.out.push_str(&b);
        Ok(())
    }

    fn top_impls(&mut self) {
        let m = self.msg;
        let name = &m.name;
        let (lo, hi) = (m.versions.lo, m.versions.hi);
        let _ = writeln!(
            self.out,
            "impl Message for {name} {{\n    const NAME: &'static str = \"{name}\";\n    const VERSIONS: VersionRange = VersionRange {{ min: {lo}, max: {hi} }};\n    const FLEXIBLE: VersionRange = VersionRange {{ min: {}, max: {} }};\n}}\n",
            m.flex.lo,
            m.flex.hi
        );
        let _ = writeln!(
            self.out,
            "impl Encodable for {name} {{\n    fn encode_vec(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {{\n        if !({lo}..={hi}).contains(&version) {{\n            return Err(EncodeError::version(\"{name}\", version));\n        }}\n        self.encode_fields(buf, version).map_err(|e| e.in_message(\"{name}\", version))\n    }}\n}}\n"
        );
        let _ = writeln!(
            self.out,
            "impl Decodable for {name} {{\n    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{\n        if !({lo}..={hi}).contains(&version) {{\n            return Err(DecodeError::version(\"{name}\", version));\n        }}\n        Self::decode_fields(buf, version).map_err(|e| e.in_message(\"{name}\", version))\n    }}\n}}\n"
        );
        if m.kind == "request" || m.kind == "response" {
            let flex = match m.flex.cond(m.versions) {
                None if !m.flex.is_none() => "true".to_string(),
                None => "false".into(),
                Some(c) => c,
            };
            let (yes, no) = if m.kind == "request" { (2, 1) } else { (1, 0) };
            let body = if m.kind == "response" && m.key == Some(18) {
                // KIP-511: ApiVersions responses always use header v0.
                "let _ = version;\n        0".to_string()
            } else if m.kind == "request" && m.key == Some(7) {
                // ControlledShutdown v0 uses request header v0.
                format!("if version == 0 {{ 0 }} else if {flex} {{ {yes} }} else {{ {no} }}")
            } else {
                format!("if {flex} {{ {yes} }} else {{ {no} }}")
            };
            let _ = writeln!(
                self.out,
                "impl HeaderVersion for {name} {{\n    fn header_version(version: i16) -> i16 {{\n        {body}\n    }}\n}}\n"
            );
        }
    }
}

/// The struct a field of type `ty` holds, as `Ty::Struct` (arrays unwrapped).
fn struct_of(ty: &Ty) -> Ty {
    match ty {
        Ty::Array(inner) => struct_of(inner),
        t => t.clone(),
    }
}

fn generate(msgs: &[Msg]) -> Result<String, String> {
    let mut out = String::new();
    out.push_str(
        "// DO NOT EDIT: generated from src/messages/schema.def by tests/messages_codegen.rs\n\
         // (KAFKA_SYNC_REGENERATE=1 cargo test --test messages_codegen).\n\
         //! The generated message types: one module per message, named as in\n\
         //! Apache Kafka's JSON definitions (snake_case modules and fields).\n\n\
         #![allow(clippy::all, unused_mut, unused_variables, unused_parens, unused_braces, non_snake_case)]\n\n\
         use std::collections::BTreeMap;\n\n\
         use bytes::Bytes;\n\n\
         use super::types::{BrokerId, GroupId, ProducerId, StrBytes, TopicName, TransactionalId, Uuid};\n\
         use super::wire::{self, DecodeError, EncodeError};\n\
         use super::{Decodable, Encodable, HeaderVersion, Message, VersionRange};\n\n",
    );
    let mut keys: BTreeMap<i16, (String, Vers, Vers)> = BTreeMap::new();
    for m in msgs {
        let module = module_name(&m.name);
        let mut g = Gen {
            msg: m,
            out: String::new(),
            structs: BTreeSet::new(),
        };
        for c in &m.commons {
            g.struct_def(&c.name, &c.fields, false)?;
        }
        g.struct_def(&m.name, &m.fields, true)?;
        g.top_impls();
        let _ = writeln!(
            out,
            "/// [`{0}`] and the structs it holds.\npub mod {module} {{\n    use super::*;\n\n{1}}}\npub use {module}::{0};\n",
            m.name,
            indent(&g.out)
        );
        if m.kind == "request" {
            if let Some(k) = m.key {
                let api = m.name.trim_end_matches("Request").to_string();
                keys.insert(k, (api, m.versions, m.flex));
            }
        }
        let _ = m.unstable;
    }
    // ApiKey.
    out.push_str("/// The API keys of the requests these schemas define.\n#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[repr(i16)]\npub enum ApiKey {\n");
    for (k, (api, _, _)) in &keys {
        let _ = writeln!(out, "    /// API key {k}.\n    {api} = {k},");
    }
    out.push_str("}\n\nimpl TryFrom<i16> for ApiKey {\n    type Error = ();\n    fn try_from(v: i16) -> Result<Self, ()> {\n        Ok(match v {\n");
    for (k, (api, _, _)) in &keys {
        let _ = writeln!(out, "            {k} => ApiKey::{api},");
    }
    out.push_str("            _ => return Err(()),\n        })\n    }\n}\n\nimpl ApiKey {\n    /// Every API key, in key order.\n    pub const ALL: &'static [ApiKey] = &[");
    for (api, _, _) in keys.values() {
        let _ = write!(out, "ApiKey::{api}, ");
    }
    out.push_str("];\n\n    /// Every API key, in key order.\n    pub fn iter() -> impl Iterator<Item = ApiKey> {\n        ApiKey::ALL.iter().copied()\n    }\n\n    /// The versions the request schema defines.\n    pub fn valid_versions(self) -> VersionRange {\n        match self {\n");
    for (api, v, _) in keys.values() {
        let _ = writeln!(
            out,
            "            ApiKey::{api} => VersionRange {{ min: {}, max: {} }},",
            v.lo, v.hi
        );
    }
    out.push_str("        }\n    }\n\n    /// The request header version for `version`.\n    pub fn request_header_version(self, version: i16) -> i16 {\n        match self {\n");
    for (api, _, _) in keys.values() {
        let _ = writeln!(
            out,
            "            ApiKey::{api} => <{api}Request as HeaderVersion>::header_version(version),"
        );
    }
    out.push_str("        }\n    }\n\n    /// The response header version for `version`.\n    pub fn response_header_version(self, version: i16) -> i16 {\n        match self {\n");
    for (api, _, _) in keys.values() {
        let _ = writeln!(
            out,
            "            ApiKey::{api} => <{api}Response as HeaderVersion>::header_version(version),"
        );
    }
    out.push_str("        }\n    }\n");
    for (kind, doc) in [
        ("request", "a request body"),
        ("response", "a response body"),
    ] {
        let ty = if kind == "request" {
            "Request"
        } else {
            "Response"
        };
        let _ = write!(
            out,
            "\n    /// Decodes {doc} of this API at `version` from the front of `buf`\n    /// and drops it: a check that the bytes decode, for tests and fuzzing.\n    ///\n    /// # Errors\n    ///\n    /// As the message's own [`Decodable::decode`].\n    pub fn decode_{kind}(self, version: i16, buf: &mut Bytes) -> Result<(), DecodeError> {{\n        match self {{\n"
        );
        for (api, _, _) in keys.values() {
            let _ = writeln!(
                out,
                "            ApiKey::{api} => {api}{ty}::decode(buf, version).map(drop),"
            );
        }
        let _ = write!(
            out,
            "        }}\n    }}\n\n    /// Appends the encoding of the default {kind} of this API at `version`.\n    ///\n    /// # Errors\n    ///\n    /// As the message's own [`Encodable::encode_vec`].\n    #[doc(hidden)]\n    pub fn encode_default_{kind}(self, version: i16, buf: &mut Vec<u8>) -> Result<(), EncodeError> {{\n        match self {{\n"
        );
        for (api, _, _) in keys.values() {
            let _ = writeln!(
                out,
                "            ApiKey::{api} => {api}{ty}::default().encode_vec(buf, version),"
            );
        }
        out.push_str("        }\n    }\n");
    }
    out.push_str("}\n");
    Ok(out)
}

fn indent(s: &str) -> String {
    let mut o = String::new();
    for l in s.lines() {
        if l.is_empty() {
            o.push('\n');
        } else {
            o.push_str("    ");
            o.push_str(l);
            o.push('\n');
        }
    }
    o
}

#[test]
fn generated_messages_match_the_definitions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let def = std::fs::read_to_string(root.join("src/messages/schema.def")).unwrap();
    let msgs = parse(&def).unwrap();
    assert!(msgs.len() > 150, "only {} messages parsed", msgs.len());
    let code = generate(&msgs).unwrap();
    let path = root.join("src/messages/generated.rs");
    if std::env::var_os("KAFKA_SYNC_REGENERATE").is_some() {
        std::fs::write(&path, &code).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == code,
        "src/messages/generated.rs is stale: run KAFKA_SYNC_REGENERATE=1 cargo test --test messages_codegen"
    );
}

#[test]
fn version_sets_parse_and_simplify() {
    let all = Vers { lo: 0, hi: 12 };
    assert_eq!(
        Vers::parse("3+").unwrap().cond(all).as_deref(),
        Some("version >= 3")
    );
    assert_eq!(Vers::parse("0+").unwrap().cond(all), None);
    assert_eq!(
        Vers::parse("0-4").unwrap().cond(all).as_deref(),
        Some("version <= 4")
    );
    assert_eq!(
        Vers::parse("2-4").unwrap().cond(all).as_deref(),
        Some("(2..=4).contains(&version)")
    );
    assert!(Vers::parse("none").unwrap().is_none());
    assert!(Vers::parse("x").is_err());
    assert_eq!(module_name("ApiVersionsRequest"), "api_versions_request");
    assert_eq!(module_name("KRaftVersionRecord"), "k_raft_version_record");
}

/// The decoding of one field, with the field's name added to any error's
/// path. A single fallible call (`call?`, or `Newtype(call?)`) goes through
/// `wire::at`; anything else is wrapped in a closure that catches every `?`
/// of the expression. Closures are one function each and dominate the build
/// time of `generated.rs`, so the common forms avoid them.
fn wrap_field(dec: &str, id: &str) -> String {
    if let Some(call) = single_call(dec) {
        return format!("wire::at({call}, \"{id}\")?");
    }
    if let Some(open) = dec.find('(') {
        let (name, rest) = dec.split_at(open);
        let simple_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric());
        if simple_name && rest.ends_with(')') {
            if let Some(call) = single_call(&rest[1..rest.len() - 1]) {
                return format!("{name}(wire::at({call}, \"{id}\")?)");
            }
        }
    }
    format!("(|| -> Result<_, DecodeError> {{ Ok({dec}) }})().map_err(|e| e.field(\"{id}\"))?")
}

/// `call` when `dec` is `call?` and `call` has no `?` of its own outside a
/// nested `|buf| ...` element decoder (whose `?` stays inside its closure).
fn single_call(dec: &str) -> Option<&str> {
    let call = dec.strip_suffix('?')?;
    let outer = match call.find("|buf|") {
        Some(at) => &call[..at],
        None => call,
    };
    let starts_ok =
        call.starts_with("wire::get_") || call.contains("::decode_fields(buf, version)");
    (starts_ok && !outer.contains('?') && !outer.contains('{')).then_some(call)
}
