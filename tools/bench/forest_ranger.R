# One benchmark run of ranger for tools/bench/forest.
# Usage: Rscript forest_ranger.R TRAIN TEST LABEL
# Prints "name value" lines like forest_sklearn.py: 100 trees, 2 threads,
# a probability forest; string columns are factors (ranger's own handling).
suppressMessages(library(ranger))
args <- commandArgs(trailingOnly = TRUE)
train <- read.csv(args[1], stringsAsFactors = TRUE, check.names = FALSE)
test <- read.csv(args[2], stringsAsFactors = TRUE, check.names = FALSE)
label <- args[3]
train[[label]] <- factor(train[[label]])
test[[label]] <- factor(test[[label]], levels = levels(train[[label]]))
for (c in names(train)) {
  if (is.factor(train[[c]]) && c != label)
    test[[c]] <- factor(test[[c]], levels = levels(train[[c]]))
}
names(train) <- make.names(names(train))
names(test) <- make.names(names(test))
label <- make.names(label)
f <- as.formula(paste0("`", label, "` ~ ."))
t0 <- proc.time()[["elapsed"]]
model <- ranger(f, data = train, num.trees = 100, num.threads = 2,
                probability = TRUE, seed = 42)
fit_s <- proc.time()[["elapsed"]] - t0
# Peak RSS after fit, from the kernel (VmHWM).
st <- readLines("/proc/self/status")
rss_mb <- as.numeric(sub("[^0-9]*([0-9]+).*", "\\1", st[grepl("^VmHWM", st)])) / 1024
xte <- test[, names(test) != label, drop = FALSE]
p <- predict(model, xte, num.threads = 2)$predictions
y <- as.integer(test[[label]])
pred <- max.col(p, ties.method = "first")
acc <- mean(pred == y)
auc_bin <- function(score, pos) {
  r <- rank(score)
  np <- as.numeric(sum(pos)); nn <- as.numeric(length(pos)) - np
  (sum(r[pos]) - np * (np + 1) / 2) / (np * nn)
}
k <- ncol(p)
if (k == 2) {
  auc <- auc_bin(p[, 2], y == 2)
} else {
  aucs <- sapply(seq_len(k), function(c) if (any(y == c)) auc_bin(p[, c], y == c) else NA)
  auc <- mean(aucs, na.rm = TRUE)
}
reps <- ceiling(1e6 / nrow(xte))
big <- xte[rep(seq_len(nrow(xte)), reps)[1:1e6], , drop = FALSE]
t0 <- proc.time()[["elapsed"]]
invisible(predict(model, big, num.threads = 2))
pred_s <- proc.time()[["elapsed"]] - t0
rm(big)
lat <- numeric(1000)
for (i in 1:1000) {
  row <- xte[((i - 1) %% nrow(xte)) + 1, , drop = FALSE]
  t0 <- Sys.time()
  invisible(predict(model, row, num.threads = 1))
  lat[i] <- as.numeric(Sys.time() - t0, units = "secs")
}
size <- length(serialize(model, NULL))
cat(sprintf("fit_seconds %.3f\n", fit_s))
cat(sprintf("peak_rss_mb %.1f\n", rss_mb))
cat(sprintf("predict_rows_per_s %.0f\n", 1e6 / pred_s))
cat(sprintf("latency_us_median %.2f\n", median(lat) * 1e6))
cat(sprintf("model_bytes %d\n", size))
cat(sprintf("accuracy %.6f\n", acc))
cat(sprintf("roc_auc %.6f\n", auc))
