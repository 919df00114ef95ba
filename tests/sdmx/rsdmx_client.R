# The SDMX REST interface read by R's rsdmx (Debian's r-cran-rsdmx), as a
# statistics office would, against a running server (run by
# tests/sdmx_clients.rs). Environment: BASE_URL, GOVERNMENT_TOKEN (USA).
#
# 1. the dataflows are listed; 2. the data structure definition is read with
# its code lists; 3. the government's country is read as a data frame with
# the token in the Authorization header; 4. a refusal is an SDMX-ML error
# message (read with httr2, since rsdmx stops at any HTTP error).
# Prints "rsdmx: OK".
suppressPackageStartupMessages({
  library(rsdmx)
  library(httr2)
})
base <- sub("/$", "", Sys.getenv("BASE_URL"))
auth <- list(Authorization = paste("Bearer", Sys.getenv("GOVERNMENT_TOKEN")))

flows <- as.data.frame(readSDMX(paste0(base, "/sdmx/dataflow/CTM/all/latest"), logger = NULL))
stopifnot("CTM_NAT_COE" %in% flows$id)
cat("1. dataflows:", paste(flows$id, collapse = ", "), "\n")

dsd <- readSDMX(paste0(base, "/sdmx/datastructure/CTM/CTM_VICTIMS/1.0?references=children"),
                logger = NULL)
codelists <- sapply(slot(slot(dsd, "codelists"), "codelists"), slot, "id")
stopifnot("CL_SEX" %in% codelists, "CL_REF_AREA" %in% codelists)
sex <- as.data.frame(slot(dsd, "codelists"), codelistId = "CL_SEX")
stopifnot(all(c("F", "M") %in% sex$id))
dims <- sapply(slot(slot(slot(dsd, "datastructures"), "datastructures")[[1]], "Components")@Dimensions,
               slot, "conceptRef")
stopifnot(dims[1] == "REF_AREA")
cat("2. DSD CTM_VICTIMS:", length(codelists), "code lists; dimensions", paste(dims, collapse = "."), "\n")

data <- as.data.frame(readSDMX(paste0(base, "/sdmx/data/CTM_NAT_COE/USA?startPeriod=2015&endPeriod=2020"),
                               headers = auth, logger = NULL))
stopifnot(nrow(data) > 20, all(data$REF_AREA == "USA"), "CONF_STATUS" %in% names(data))
released <- data[data$CONF_STATUS == "F", ]
stopifnot(nrow(released) > 0, all(released$OBS_STATUS == "E"),
          all(as.integer(released$MARGIN_OF_ERROR) > 0))
cat("3. data:", nrow(data), "observations,", nrow(released), "released, as a data frame\n")

resp <- request(paste0(base, "/sdmx/data/CTM_NAT_COE/MEX")) |>
  req_headers(Authorization = auth$Authorization) |>
  req_error(is_error = function(resp) FALSE) |>
  req_perform()
stopifnot(resp_status(resp) == 403)
body <- resp_body_string(resp)
stopifnot(grepl("<mes:ErrorMessage code=\"150\">", body, fixed = TRUE),
          grepl("auth.country_scope", body, fixed = TRUE))
cat("4. another country: HTTP 403, SDMX error 150 auth.country_scope\n")
cat("rsdmx", as.character(packageVersion("rsdmx")), ": OK\n")
