//! A measure per category: the top N by value and `other`, with each one's share of the total.

use serde::{Deserialize, Serialize};

use super::columns::{category_column, measure_column};
use super::{default_top, Acc, Agg, MISSING_CATEGORY, OTHER};
use crate::cancel::CancelFlag;
use crate::error::Result;
use crate::frame::{Frame, MISSING};

/// A measure broken down by a category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakdownParams {
    /// The category (or text) column.
    pub by: String,
    #[serde(default)]
    pub measure: Option<String>,
    #[serde(default)]
    pub agg: Agg,
    #[serde(default = "default_top")]
    pub top: usize,
}

/// One category of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub category: String,
    pub value: Option<f64>,
    pub count: u64,
    /// `value / total` for `sum` and `count`; `null` for the others.
    pub share: Option<f64>,
}

/// The result of [`breakdown`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub params: BreakdownParams,
    /// Top categories by value (largest first), then `other` if any.
    pub rows: Vec<Share>,
    /// The aggregate over all rows.
    pub total: Option<f64>,
}

/// A measure per category: top N by value and `other`, with shares of the total.
pub fn breakdown(frame: &Frame, p: &BreakdownParams) -> Result<Breakdown> {
    breakdown_in(frame, p, &CancelFlag::new())
}

pub(super) fn breakdown_in(
    frame: &Frame,
    p: &BreakdownParams,
    cancel: &CancelFlag,
) -> Result<Breakdown> {
    let (codes, values) = category_column(frame, &p.by)?;
    let measure = measure_column(frame, &p.measure, p.agg)?;
    let mut per = vec![Acc::EMPTY; values.len() + 1];
    let mut total = Acc::EMPTY;
    for (row, &code) in codes.iter().enumerate() {
        cancel.check_row(row)?;
        let slot = if code == MISSING {
            values.len()
        } else {
            code as usize
        };
        let x = match measure {
            Some(m) if m[row].is_nan() => continue,
            Some(m) => m[row],
            None => 0.0,
        };
        per[slot].add(x);
        total.add(x);
    }
    let name = |slot: usize| -> String {
        if slot == values.len() {
            MISSING_CATEGORY.to_owned()
        } else {
            values[slot].clone()
        }
    };
    let mut order: Vec<usize> = (0..per.len()).filter(|&s| per[s].count > 0).collect();
    let key = |s: usize| per[s].value(p.agg).unwrap_or(f64::NEG_INFINITY);
    order.sort_by(|&a, &b| {
        key(b)
            .total_cmp(&key(a))
            .then_with(|| name(a).cmp(&name(b)))
    });
    let total_value = total.value(p.agg);
    let share_of = |v: Option<f64>| match (p.agg, v, total_value) {
        (Agg::Sum | Agg::Count, Some(v), Some(t)) if t != 0.0 => Some(v / t),
        _ => None,
    };
    let mut rows: Vec<Share> = order
        .iter()
        .take(p.top)
        .map(|&s| {
            let v = per[s].value(p.agg);
            Share {
                category: name(s),
                value: v,
                count: per[s].count,
                share: share_of(v),
            }
        })
        .collect();
    if order.len() > p.top {
        let mut other = Acc::EMPTY;
        for &s in &order[p.top..] {
            let a = per[s];
            other.count += a.count;
            other.sum += a.sum;
            other.min = other.min.min(a.min);
            other.max = other.max.max(a.max);
        }
        let v = other.value(p.agg);
        rows.push(Share {
            category: OTHER.to_owned(),
            value: v,
            count: other.count,
            share: share_of(v),
        });
    }
    Ok(Breakdown {
        params: p.clone(),
        rows,
        total: total_value,
    })
}
