//! The measure per period with a fitted trend (linear least squares or Holt's method), a
//! forecast of the next periods, and outlying periods (robust z-score over the median absolute
//! deviation).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::timeseries::{timeseries_in, TimeSeriesParams};
use super::{Agg, Period, PeriodInfo};
use crate::cancel::CancelFlag;
use crate::error::{Error, Result};
use crate::frame::Frame;

/// The forecasting method of a trend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "name")]
pub enum TrendMethod {
    /// Ordinary least squares on the period number.
    #[default]
    Linear,
    /// Holt's linear exponential smoothing (level `alpha`, trend `beta`).
    Holt { alpha: f64, beta: f64 },
}

fn default_horizon() -> usize {
    3
}

/// A trend with a forecast and outliers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendParams {
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub measure: Option<String>,
    #[serde(default)]
    pub agg: Agg,
    #[serde(default)]
    pub by: Period,
    /// Periods to forecast.
    #[serde(default = "default_horizon")]
    pub horizon: usize,
    #[serde(default)]
    pub method: TrendMethod,
}

/// A period whose value is far from the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outlier {
    pub period: PeriodInfo,
    pub value: f64,
    /// `0.6745 * (value - median) / MAD`.
    pub z: f64,
}

/// The result of [`trend`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub params: TrendParams,
    /// `linear least squares` or `Holt's linear exponential smoothing`.
    pub method: String,
    pub periods: Vec<PeriodInfo>,
    pub values: Vec<Option<f64>>,
    /// The model's value per period (`null` where it has none).
    pub fitted: Vec<Option<f64>>,
    /// Change per period of the fitted line (linear) or the last trend (Holt).
    pub slope: Option<f64>,
    pub forecast: Vec<(PeriodInfo, f64)>,
    pub median: Option<f64>,
    /// Median absolute deviation of the values from their median.
    pub mad: Option<f64>,
    /// Values with a robust z-score over 3.5 in absolute value (none when MAD is 0).
    pub outliers: Vec<Outlier>,
}

/// The median of a non-empty slice (sorts it).
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The measure per period with a fitted trend, a forecast of the next periods and the periods
/// whose robust z-score is over 3.5.
pub fn trend(frame: &Frame, p: &TrendParams) -> Result<Trend> {
    trend_in(frame, p, &CancelFlag::new())
}

pub(super) fn trend_in(frame: &Frame, p: &TrendParams, cancel: &CancelFlag) -> Result<Trend> {
    let ts = timeseries_in(
        frame,
        &TimeSeriesParams {
            date: p.date.clone(),
            measure: p.measure.clone(),
            agg: p.agg,
            by: p.by,
            split: None,
            top: 0,
            window: 0,
        },
        cancel,
    )?;
    let values = ts.series[0].values.clone();
    let n = values.len();
    let points: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
        .collect();
    let first_key = p.by.key(
        NaiveDate::parse_from_str(&ts.periods[0].start, "%Y-%m-%d")
            .unwrap_or_default()
            .signed_duration_since(NaiveDate::default())
            .num_days(),
    );
    let future = |h: usize| p.by.info(first_key + (n + h) as i64);
    let (method, fitted, slope, forecast) = match p.method {
        TrendMethod::Linear => {
            let m = points.len() as f64;
            let (mx, my) = points
                .iter()
                .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / m, b + y / m));
            let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
            let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
            if points.len() < 2 || sxx == 0.0 {
                ("linear least squares", vec![None; n], None, Vec::new())
            } else {
                let b = sxy / sxx;
                let a = my - b * mx;
                let fitted = (0..n).map(|i| Some(a + b * i as f64)).collect();
                let forecast = (0..p.horizon)
                    .map(|h| (future(h), a + b * (n + h) as f64))
                    .collect();
                ("linear least squares", fitted, Some(b), forecast)
            }
        }
        TrendMethod::Holt { alpha, beta } => {
            if !(0.0..=1.0).contains(&alpha) || !(0.0..=1.0).contains(&beta) {
                return Err(Error::BadParameter(
                    "Holt's alpha and beta must be between 0 and 1".into(),
                ));
            }
            let mut fitted = vec![None; n];
            if points.len() < 2 {
                (
                    "Holt's linear exponential smoothing",
                    fitted,
                    None,
                    Vec::new(),
                )
            } else {
                let mut level = points[0].1;
                let mut tr = points[1].1 - points[0].1;
                fitted[points[0].0 as usize] = Some(level);
                for &(x, y) in &points[1..] {
                    fitted[x as usize] = Some(level + tr);
                    let prev = level;
                    level = alpha * y + (1.0 - alpha) * (level + tr);
                    tr = beta * (level - prev) + (1.0 - beta) * tr;
                }
                let last = points[points.len() - 1].0 as usize;
                let forecast = (0..p.horizon)
                    .map(|h| (future(h), level + tr * (n + h - last) as f64))
                    .collect();
                (
                    "Holt's linear exponential smoothing",
                    fitted,
                    Some(tr),
                    forecast,
                )
            }
        }
    };
    let mut ys: Vec<f64> = points.iter().map(|(_, y)| *y).collect();
    let med = median(&mut ys);
    let mad = med.and_then(|m| {
        let mut dev: Vec<f64> = ys.iter().map(|y| (y - m).abs()).collect();
        median(&mut dev)
    });
    let outliers = match (med, mad) {
        (Some(m), Some(d)) if d > 0.0 => points
            .iter()
            .filter_map(|&(x, y)| {
                let z = 0.6745 * (y - m) / d;
                (z.abs() > 3.5).then(|| Outlier {
                    period: ts.periods[x as usize].clone(),
                    value: y,
                    z,
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Trend {
        params: p.clone(),
        method: method.to_owned(),
        periods: ts.periods,
        values,
        fitted,
        slope,
        forecast,
        median: med,
        mad,
        outliers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
