# Quick start in R: grouped counts with httr2, a country's national figures
# with rsdmx (the service's SDMX REST interface), each plotted with its
# margins of error, titled, into a named PNG file.
#
#   apt-get install r-base-core r-cran-httr2 r-cran-rsdmx     # Debian
#   BASE_URL=http://127.0.0.1:8080 RESEARCHER_TOKEN=... GOVERNMENT_TOKEN=... \
#     Rscript docs/quickstart/researcher.R
#
# It spends a little of your privacy budget (the estimate says how much
# first); the national figures are charged to the government token (USA in
# the demo). The test suite runs this very file against a real server.

suppressPackageStartupMessages({
  library(httr2)
  library(rsdmx)
})

base <- sub("/+$", "", Sys.getenv("BASE_URL", "http://127.0.0.1:8080"))
token <- Sys.getenv("RESEARCHER_TOKEN")
gov_token <- Sys.getenv("GOVERNMENT_TOKEN", token)
country <- Sys.getenv("COUNTRY", "USA")
out <- Sys.getenv("OUT_DIR", ".")

# A random Idempotency-Key per release: a retry with the same key replays the
# stored answer and never charges twice.
idempotency_key <- function() {
  paste0("r-", paste(sample(c(0:9, letters[1:6]), 32, replace = TRUE), collapse = ""))
}

# Every call with the token; a refusal (problem+json) stops with its code.
api <- function(path) {
  request(base) |>
    req_url_path_append(path) |>
    req_auth_bearer_token(token) |>
    req_error(body = function(resp) {
      p <- resp_body_json(resp)
      paste0(p$code, ": ", p$detail)
    })
}

# 1. Estimate first (free): the cost of a margin of ±30 per cell.
query <- list(
  dimensions = list("type_of_exploitation", "gender"),
  filters = list(registration_year = list(from = 2015, to = 2020)),
  accuracy = list(margin = 30, confidence = 0.95)
)
est <- api("v1/counts/estimate") |> req_body_json(query) |> req_perform() |> resp_body_json()
cat(sprintf("estimate: cost %s %s, ±%s per cell, budget left %s\n",
            format(est$cost), est$unit, est$margin_of_error, format(est$budget$remaining)))

# 2. Release, with a random idempotency key; 429 and 503 are retried with
#    the same key (so the same request), which is safe: it charges once.
res <- api("v1/counts") |>
  req_body_json(query) |>
  req_headers(`Idempotency-Key` = idempotency_key()) |>
  req_retry(max_tries = 4) |>
  req_perform() |>
  resp_body_json()
cat(sprintf("charged %s %s, budget left %s, ledger entry #%s\n",
            format(res$charged), res$budget$unit, format(res$budget$remaining), res$ledger_seq))

# 3. A table with its margins; a suppressed cell has no count (NA), not zero.
cells <- do.call(rbind, lapply(res$cells, function(c) data.frame(
  type = c$key$type_of_exploitation, gender = c$key$gender,
  count = if (is.null(c$count)) NA_real_ else c$count,
  margin = c$margin_of_error, suppressed = c$suppressed
)))
cells$low <- pmax(0, cells$count - cells$margin)
cells$high <- cells$count + cells$margin
print(cells)

# 4. The released cells with error bars, titled, in r-counts.png.
bars <- function(values, low, high, names, title, xlab, file) {
  png(file, width = 900, height = 140 + 26 * length(values))
  par(mar = c(4.5, 18, 4, 1))
  centres <- barplot(values, names.arg = names, horiz = TRUE, las = 1,
                     xlim = c(0, max(high, na.rm = TRUE)), col = "#1d4e89", xlab = xlab)
  arrows(low, centres, high, centres, angle = 90, code = 3, length = 0.03)
  title(main = title)
  invisible(dev.off())
  cat("plot:", file, "\n")
}
shown <- subset(cells, !suppressed)
bars(shown$count, shown$low, shown$high, paste(shown$type, shown$gender, sep = " · "),
     sprintf("Victims registered 2015-2020 (%d cells suppressed)", sum(cells$suppressed)),
     sprintf("noisy count (±%s at %s%% confidence)", cells$margin[1], 100 * res$confidence),
     file.path(out, "r-counts.png"))

# 5. National figures through SDMX: the country's report for 2019 as an
#    SDMX-ML message read by rsdmx, the token in a header (charged once; a
#    repeat is free). CONF_STATUS "C" marks a suppressed observation.
url <- sprintf("%s/sdmx/data/CTM_NAT_COE/%s?startPeriod=2019&endPeriod=2019", base, country)
msg <- readSDMX(url, headers = list(Authorization = paste("Bearer", gov_token)))
# rsdmx 0.6 on R 4.2 or later warns about its own use of `&&` on attribute
# vectors while it reads observations; the values are unaffected.
nat <- suppressWarnings(as.data.frame(msg))
cat(sprintf("national: %d observations for %s\n", nrow(nat), country))
value <- if ("obsValue" %in% names(nat)) "obsValue" else "OBS_VALUE"
nat$value <- suppressWarnings(as.numeric(nat[[value]]))
nat$margin <- suppressWarnings(as.numeric(nat$MARGIN_OF_ERROR))
# The figures by sex and age: the observations where every other breakdown is a total.
dims <- setdiff(names(nat), c("REF_AREA", "TIME_PERIOD", "obsTime", value, "value", "margin",
                              "OBS_STATUS", "CONF_STATUS", "UNIT_MEASURE", "MARGIN_OF_ERROR"))
varies <- dims[vapply(dims, function(d) length(unique(nat[[d]])) > 1, logical(1))]
by <- intersect(c("SEX", "AGE"), varies)
if (length(by) == 0) by <- head(varies, 1)
others <- setdiff(varies, by)
# ("_T" is SDMX's code for a total; the country's total itself is left out.)
keep <- Reduce(`&`, lapply(others, function(d) nat[[d]] == "_T"), TRUE) &
  Reduce(`&`, lapply(by, function(d) nat[[d]] != "_T"), TRUE)
sel <- nat[!is.na(nat$value) & keep, ]
if (nrow(sel) == 0) sel <- nat[!is.na(nat$value), ]
sel <- head(sel, 30)
print(sel[, c(by, "value", "margin")])
bars(sel$value, pmax(0, sel$value - sel$margin), sel$value + sel$margin,
     do.call(paste, c(lapply(by, function(d) sel[[d]]), sep = " · ")),
     sprintf("%s: victims registered in 2019, by %s (SDMX)", country, paste(tolower(by), collapse = " and ")),
     "noisy count (error bars: margin of error)",
     file.path(out, "r-national.png"))
