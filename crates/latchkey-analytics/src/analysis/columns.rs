//! The columns an analysis reads, checked for their type, and the ranking of categories
//! into the top N and `other`.

use super::{Agg, MISSING_CATEGORY, OTHER};
use crate::cancel::CancelFlag;
use crate::error::{Error, Result};
use crate::frame::{ColumnData, Frame, MISSING};
use crate::types::ColumnKind;

pub(super) fn date_column<'a>(
    frame: &'a Frame,
    name: &Option<String>,
) -> Result<(String, &'a [Option<i64>])> {
    let col = match name {
        Some(n) => frame.get(n)?,
        None => frame
            .columns
            .iter()
            .find(|(c, _)| c.kind.is_temporal())
            .ok_or_else(|| Error::BadParameter("the dataset has no date column".into()))?,
    };
    match &col.1 {
        ColumnData::Times(v) => Ok((col.0.name.clone(), v)),
        _ => Err(Error::WrongKind {
            column: col.0.name.clone(),
            found: col.0.kind,
            needed: "date",
        }),
    }
}

/// The measure's values (NaN = missing), or `None` for a plain row count.
pub(super) fn measure_column<'a>(
    frame: &'a Frame,
    name: &Option<String>,
    agg: Agg,
) -> Result<Option<&'a [f64]>> {
    let Some(n) = name else {
        return if agg == Agg::Count {
            Ok(None)
        } else {
            Err(Error::BadParameter(
                "a measure column is needed unless the aggregate is count".into(),
            ))
        };
    };
    let (c, d) = frame.get(n)?;
    match d {
        ColumnData::Numbers(v) => Ok(Some(v)),
        _ => Err(Error::WrongKind {
            column: c.name.clone(),
            found: c.kind,
            needed: "number",
        }),
    }
}

pub(super) fn category_column<'a>(
    frame: &'a Frame,
    name: &str,
) -> Result<(&'a [u32], &'a [String])> {
    let (c, d) = frame.get(name)?;
    match d {
        ColumnData::Texts { codes, values }
            if matches!(c.kind, ColumnKind::Category | ColumnKind::Text) =>
        {
            Ok((codes, values))
        }
        _ => Err(Error::WrongKind {
            column: c.name.clone(),
            found: c.kind,
            needed: "category",
        }),
    }
}

/// Maps each category code to a group: 0..top by rank, then `other`. Returns (group of each
/// code, missing's group, group names).
pub(super) struct Groups {
    of_code: Vec<usize>,
    of_missing: usize,
    pub(super) names: Vec<String>,
}

pub(super) fn rank_categories(
    codes: &[u32],
    values: &[String],
    measure: Option<&[f64]>,
    agg: Agg,
    top: usize,
    include: impl Fn(usize) -> bool,
    cancel: &CancelFlag,
) -> Result<Groups> {
    // Slot values.len() is the missing category.
    let mut weight = vec![0.0f64; values.len() + 1];
    let mut seen = vec![false; values.len() + 1];
    for (row, &code) in codes.iter().enumerate() {
        cancel.check_row(row)?;
        if !include(row) {
            continue;
        }
        let slot = if code == MISSING {
            values.len()
        } else {
            code as usize
        };
        seen[slot] = true;
        let w = match (agg, measure) {
            (Agg::Sum, Some(m)) if !m[row].is_nan() => m[row].abs(),
            (Agg::Sum, Some(_)) => 0.0,
            _ => 1.0,
        };
        weight[slot] += w;
    }
    let name = |slot: usize| -> &str {
        if slot == values.len() {
            MISSING_CATEGORY
        } else {
            &values[slot]
        }
    };
    let mut order: Vec<usize> = (0..weight.len()).filter(|&s| seen[s]).collect();
    order.sort_by(|&a, &b| {
        weight[b]
            .total_cmp(&weight[a])
            .then_with(|| name(a).cmp(name(b)))
    });
    let kept = order.len().min(top);
    let mut group = vec![kept; weight.len()];
    let mut names: Vec<String> = Vec::with_capacity(kept + 1);
    for (g, &slot) in order.iter().take(kept).enumerate() {
        group[slot] = g;
        names.push(name(slot).to_owned());
    }
    if order.len() > kept {
        names.push(OTHER.to_owned());
    }
    Ok(Groups {
        of_missing: group[values.len()],
        of_code: group[..values.len()].to_vec(),
        names,
    })
}

impl Groups {
    pub(super) fn of(&self, code: u32) -> usize {
        if code == MISSING {
            self.of_missing
        } else {
            self.of_code[code as usize]
        }
    }
}
