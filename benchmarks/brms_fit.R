# Fit alliance_bayes's dual-rater growth model with brms (rstan backend); called by
# benchmarks/competitors.py (run_brms), not meant to be run by hand.
#
# Rscript brms_fit.R CONFIG.json
#
# CONFIG (written by competitors.py): data (CSV: y, cens, rater, time, therapist, patient and the
# standardised therapist covariates), out (folder), likelihood (normal | censored | student_t),
# covariates (names), chains, iter, warmup, cores, seed.
# Writes to out: draws.csv (.chain, .draw and the b_*, sd_*, cor_*, nu draws), stats.json
# (compile and sampling wall time, rstan's per-chain times, divergences, min bulk ESS and max
# R-hat by posterior::summarise_draws, versions).

suppressPackageStartupMessages({
  library(brms)
  library(jsonlite)
  library(posterior)
})

config <- fromJSON(commandArgs(trailingOnly = TRUE)[1])
frame <- read.csv(config$data, stringsAsFactors = FALSE)
frame$rater <- factor(frame$rater, levels = config$raters)
frame$therapist <- factor(frame$therapist)
frame$patient <- factor(frame$patient)

covariates <- paste(config$covariates, collapse = " + ")
fixed <- "0 + rater + rater:time"
if (length(config$covariates) > 0) {
  fixed <- paste0(fixed, " + rater:(", covariates, ") + rater:time:(", covariates, ")")
}
groups <- "(0 + rater + rater:time | therapist) + (0 + rater + rater:time | patient)"
outcome <- if (config$likelihood == "censored") "y | cens(cens)" else "y"
formula_text <- paste(outcome, "~", fixed, "+", groups)
model_formula <- bf(as.formula(formula_text), sigma ~ 0 + rater)
model_family <- if (config$likelihood == "student_t") student() else gaussian()

# compile only (chains = 0), then sample with the compiled model (fit = ...)
started <- Sys.time()
compiled <- brm(model_formula, data = frame, family = model_family, backend = "rstan",
                chains = 0, silent = 2, refresh = 0)
compile_s <- as.numeric(difftime(Sys.time(), started, units = "secs"))

started <- Sys.time()
fit <- brm(model_formula, data = frame, family = model_family, backend = "rstan",
           fit = compiled, chains = config$chains, iter = config$iter, warmup = config$warmup,
           cores = config$cores, seed = config$seed, silent = 2, refresh = 0)
sample_s <- as.numeric(difftime(Sys.time(), started, units = "secs"))

draws <- as_draws_df(fit, variable = c("^b_", "^sd_", "^cor_", "^nu$"), regex = TRUE)
summary <- summarise_draws(draws, "ess_bulk", "rhat")
nuts <- nuts_params(fit)
divergences <- sum(nuts$Value[nuts$Parameter == "divergent__"])
elapsed <- rstan::get_elapsed_time(fit$fit)

write.csv(as.data.frame(draws), file.path(config$out, "draws.csv"), row.names = FALSE)
stats <- list(
  compile_s = compile_s,
  sample_s = sample_s,
  warmup_s_per_chain = unname(elapsed[, "warmup"]),
  sample_s_per_chain = unname(elapsed[, "sample"]),
  divergences = divergences,
  min_bulk_ess = min(summary$ess_bulk),
  min_ess_parameter = summary$variable[which.min(summary$ess_bulk)],
  max_r_hat = max(summary$rhat),
  formula = paste0("bf(", formula_text, ", sigma ~ 0 + rater), family = ", model_family$family),
  versions = list(
    brms = as.character(packageVersion("brms")),
    rstan = as.character(packageVersion("rstan")),
    R = paste(R.version$major, R.version$minor, sep = ".")
  )
)
write(toJSON(stats, auto_unbox = TRUE, digits = NA), file.path(config$out, "stats.json"))
