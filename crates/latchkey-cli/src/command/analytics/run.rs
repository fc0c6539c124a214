use super::{dataset_id, show_result};
use crate::output::{credits, Output};
use latchkey_core::analytics::engine::{
    Agg, Analysis, BreakdownParams, CancelFlag, CompareParams, ComparePeriod, Period,
    TimeSeriesParams, TrendMethod, TrendParams,
};
use latchkey_core::{Code, Core, Error};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Kind {
    /// The measure per period, one series per category of --split.
    Timeseries,
    /// The measure per category of --split, with its share of the total.
    Breakdown,
    /// The latest month (or year, with --by year) against the one before, per --split.
    Compare,
    /// The measure per period with a linear trend, a forecast and outliers.
    Trend,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum By {
    Day,
    Week,
    Month,
    Year,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum AggArg {
    Sum,
    Mean,
    Count,
    Min,
    Max,
}

#[derive(clap::Args, Debug)]
pub struct Run {
    /// The dataset: its id or its name.
    dataset: String,
    /// Which analysis (each kind has one price, printed before it runs).
    #[arg(long, value_enum)]
    kind: Kind,
    /// The number column to aggregate.
    #[arg(long, value_name = "COL")]
    measure: String,
    /// The period (timeseries, trend; compare takes month or year).
    #[arg(long, value_enum, default_value = "month")]
    by: By,
    /// A category column: one series (timeseries) or line (breakdown, compare) per value,
    /// the top 5 and "other". Required by breakdown.
    #[arg(long, value_name = "COL")]
    split: Option<String>,
    /// How the measure is aggregated.
    #[arg(long, value_enum, default_value = "sum")]
    agg: AggArg,
    /// Print the saved result as JSON: {"id", "dataset_id", "kind", "params", "result",
    /// "cost", "created_at"}.
    #[arg(long)]
    json: bool,
}

impl Run {
    fn analysis(&self) -> Result<Analysis, Error> {
        let measure = Some(self.measure.clone());
        let agg = match self.agg {
            AggArg::Sum => Agg::Sum,
            AggArg::Mean => Agg::Mean,
            AggArg::Count => Agg::Count,
            AggArg::Min => Agg::Min,
            AggArg::Max => Agg::Max,
        };
        let by = match self.by {
            By::Day => Period::Day,
            By::Week => Period::Week,
            By::Month => Period::Month,
            By::Year => Period::Year,
        };
        Ok(match self.kind {
            Kind::Timeseries => Analysis::Timeseries(TimeSeriesParams {
                date: None,
                measure,
                agg,
                by,
                split: self.split.clone(),
                top: 5,
                window: 3,
            }),
            Kind::Breakdown => Analysis::Breakdown(BreakdownParams {
                by: self.split.clone().ok_or_else(|| {
                    Error::new(
                        Code::InvalidInput,
                        "a breakdown needs the category column to break the measure down by \
                         (--split COL)",
                    )
                })?,
                measure,
                agg,
                top: 10,
            }),
            Kind::Compare => Analysis::Compare(CompareParams {
                date: None,
                measure,
                agg,
                period: match self.by {
                    By::Month => ComparePeriod::Month,
                    By::Year => ComparePeriod::Year,
                    By::Day | By::Week => {
                        return Err(Error::new(
                            Code::InvalidInput,
                            "a comparison takes --by month or --by year",
                        ))
                    }
                },
                anchor: None,
                by: self.split.clone(),
                top: 5,
            }),
            Kind::Trend => {
                if self.split.is_some() {
                    return Err(Error::new(
                        Code::InvalidInput,
                        "a trend has no --split; run it on the whole measure",
                    ));
                }
                Analysis::Trend(TrendParams {
                    date: None,
                    measure,
                    agg,
                    by,
                    horizon: 3,
                    method: TrendMethod::Linear,
                })
            }
        })
    }

    pub fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let analysis = self.analysis()?;
        let id = dataset_id(app, &self.dataset)?;
        let kind = match self.kind {
            Kind::Timeseries => "timeseries",
            Kind::Breakdown => "breakdown",
            Kind::Compare => "compare",
            Kind::Trend => "trend",
        };
        let price = app.analysis_price(kind)?;
        let run_id = latchkey_core::new_key("cli-analytics")?;
        // From here Ctrl-C cancels the run: its hold is released and it exits 30, instead of
        // the process dying with the credits held until the hold expires.
        let cancel = CancelFlag::new();
        let interrupts = Interrupts::watch(cancel.clone());
        eprintln!(
            "This {kind} analysis costs {} credits (Ctrl-C cancels it; nothing is charged then).",
            credits(price)
        );
        let paid = app.analysis_run_cancellable(id, &analysis, &run_id, &cancel);
        drop(interrupts);
        let paid = paid?;
        if self.json {
            out.json(&serde_json::to_value(&paid.saved).unwrap_or_default());
            return Ok(());
        }
        show_result(&paid.saved)?;
        println!(
            "Paid {} credits. Available: {}. Reopen it for free: latchkey analytics results {}",
            credits(price),
            credits(paid.balance.available),
            paid.saved.id
        );
        Ok(())
    }
}

/// Sets a [`CancelFlag`] at Ctrl-C while it lives. The analysis runs on this thread (the core
/// is borrowed, not shared), so the signal is awaited on a thread of its own, with a runtime
/// of its own; the handler is installed before [`Interrupts::watch`] returns, so a Ctrl-C at
/// any moment of the run cancels it.
struct Interrupts {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Interrupts {
    fn watch(cancel: CancelFlag) -> Interrupts {
        let (installed_tx, installed) = std::sync::mpsc::channel::<()>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                // No runtime, no handler: Ctrl-C ends the process (the hold then expires).
                let _ = installed_tx.send(());
                return;
            };
            runtime.block_on(async move {
                let ctrl_c = crate::command::ctrl_c();
                let _ = installed_tx.send(());
                tokio::select! {
                    () = ctrl_c => cancel.cancel(),
                    _ = stopped => {}
                }
            });
        });
        let _ = installed.recv();
        Interrupts {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
