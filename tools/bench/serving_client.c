/* serving_client.c - the load generator of tools/bench/serving: requests
 * to an endpoint's predict file through the mount, or to an HTTP scoring
 * server (the MLflow-style peer), timed one by one with clock_gettime.
 * It is not part of mlfs and not built by meson: the bench compiles it
 * with cc -O2 so that the client costs the same for every server.
 *
 *   serving_client file PATH NKEYS REQUESTS CLIENTS [single]
 *   serving_client http HOST:PORT NKEYS REQUESTS CLIENTS
 *       one-row requests for a random key in 1..NKEYS ("customer_id\nK\n"
 *       to PATH, or {"dataframe_records":[{"customer_id":K}]} POSTed to
 *       /invocations), REQUESTS in all split over CLIENTS processes, each
 *       with its own handle or keep-alive connection, after WARMUP (env,
 *       default 100) untimed requests each.  A file client writes the
 *       request and reads until read returns 0; with "single" it reads
 *       once (enough when the response fits its buffer).  Prints
 *       "requests N clients C p50_us P p99_us Q max_us M mean_us A req_s R".
 *   serving_client file-batch PATH FILE ROWS REQUESTS
 *   serving_client http-batch HOST:PORT FILE ROWS REQUESTS
 *       FILE's contents (ROWS rows) as one request, REQUESTS times on one
 *       handle or connection; prints "requests N rows R mean_ms M rows_s S".
 * Every response is checked (a CSV response has a line per row and a
 * header; an HTTP one has status 200); a bad one ends the run, status 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A growable byte buffer: the request or response of one round trip. */
struct bytes {
	char *data;
	size_t len, cap;
};

/* One client's way to the server: a predict handle or a connection. */
struct conn {
	int http;		/* 0: predict file, 1: HTTP */
	int fd;
	int single;		/* file: one read per response */
	char host[256];
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void bytes_reserve(struct bytes *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	if (!(b->data = realloc(b->data, cap)))
		die("realloc");
	b->cap = cap;
}

static void bytes_put(struct bytes *b, const char *s, size_t n)
{
	bytes_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write");
		p += w;
		n -= (size_t)w;
	}
}

static int open_http(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	int one = 1;
	if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
		fprintf(stderr, "serving_client: HOST:PORT, not '%s'\n", hostport);
		exit(2);
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = 0;
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		die("getaddrinfo");
	int fd = socket(ai->ai_family, ai->ai_socktype, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen))
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	freeaddrinfo(ai);
	return fd;
}

static void conn_open(struct conn *c, int http, const char *where, int single)
{
	c->http = http;
	c->single = single;
	snprintf(c->host, sizeof(c->host), "%s", where);
	c->fd = http ? open_http(where) : open(where, O_RDWR);
	if (c->fd < 0)
		die(where);
}

/* Read an HTTP response on FD into OUT (its body); the status is returned. */
static int http_read(int fd, struct bytes *out)
{
	size_t head = 0, body = 0;
	out->len = 0;
	for (;;) {
		bytes_reserve(out, 65536);
		ssize_t r = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("http read");
		out->len += (size_t)r;
		out->data[out->len] = 0;
		if (!head) {
			char *end = strstr(out->data, "\r\n\r\n");
			if (!end)
				continue;
			head = (size_t)(end - out->data) + 4;
			char *cl = strcasestr(out->data, "\r\nContent-Length:");
			if (!cl || cl > end) {
				fprintf(stderr, "serving_client: no Content-Length\n");
				exit(1);
			}
			body = strtoull(cl + 17, NULL, 10);
		}
		if (out->len >= head + body)
			break;
	}
	int status = atoi(out->data + 9);	/* "HTTP/1.1 200" */
	memmove(out->data, out->data + head, body);
	out->len = body;
	out->data[body] = 0;
	return status;
}

/* One request REQ and its response into OUT. */
static void roundtrip(struct conn *c, const char *req, size_t len,
		      struct bytes *out)
{
	if (c->http) {
		char head[512];
		int n = snprintf(head, sizeof(head), "POST /invocations HTTP/1.1\r\n"
				 "Host: %s\r\nContent-Type: application/json\r\n"
				 "Content-Length: %zu\r\n\r\n", c->host, len);
		write_all(c->fd, head, (size_t)n);
		write_all(c->fd, req, len);
		if (http_read(c->fd, out) != 200) {
			fprintf(stderr, "serving_client: HTTP error: %.300s\n", out->data);
			exit(1);
		}
		return;
	}
	write_all(c->fd, req, len);
	out->len = 0;
	for (;;) {
		bytes_reserve(out, 65536);
		ssize_t r = read(c->fd, out->data + out->len, out->cap - out->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read predict");
		out->len += (size_t)r;
		out->data[out->len] = 0;
		if (r == 0 || c->single)
			break;
	}
}

/* A CSV response must have a header and ROWS lines. */
static void check_csv(const struct bytes *resp, size_t rows)
{
	size_t lines = 0;
	for (const char *p = resp->data; (p = memchr(p, '\n', resp->len - (size_t)(p - resp->data))); p++)
		lines++;
	if (lines != rows + 1) {
		fprintf(stderr, "serving_client: %zu response lines for %zu rows: %.300s\n",
			lines, rows, resp->len ? resp->data : "(empty)");
		exit(1);
	}
}

static uint64_t next_key(uint64_t *state, uint64_t nkeys)
{
	uint64_t x = *state;	/* xorshift64 */
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x % nkeys + 1;
}

/* Client I of a one-row run: N timed requests into LAT. */
static void one_client(int http, const char *where, int single, uint64_t nkeys,
		       int i, size_t warmup, size_t n, uint64_t *lat)
{
	struct conn c;
	struct bytes resp = { 0 };
	uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
	char req[160];
	conn_open(&c, http, where, single);
	for (size_t j = 0; j < warmup + n; j++) {
		uint64_t key = next_key(&rng, nkeys);
		int len = http ? snprintf(req, sizeof(req),
					  "{\"dataframe_records\":[{\"customer_id\":%llu}]}",
					  (unsigned long long)key)
			       : snprintf(req, sizeof(req), "customer_id\n%llu\n",
					  (unsigned long long)key);
		uint64_t t0 = now_ns();
		roundtrip(&c, req, (size_t)len, &resp);
		uint64_t t = now_ns() - t0;
		if (!http)
			check_csv(&resp, 1);
		if (j >= warmup)
			lat[j - warmup] = t;
	}
	close(c.fd);
	free(resp.data);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)sorted[i] / 1000.0;
}

static int run_rows(int http, const char *where, uint64_t nkeys, size_t total,
		    int clients, int single)
{
	size_t per = total / (size_t)clients, n = per * (size_t)clients;
	const char *w = getenv("WARMUP");
	size_t warmup = w ? strtoull(w, NULL, 10) : 100;
	uint64_t *lat = mmap(NULL, n * sizeof(*lat), PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int bad = 0;
	if (lat == MAP_FAILED)
		die("mmap");
	uint64_t t0 = now_ns();
	for (int i = 0; i < clients; i++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			one_client(http, where, single, nkeys, i, warmup, per, lat + (size_t)i * per);
			_exit(0);
		}
	}
	for (int i = 0; i < clients; i++) {
		int st;
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			bad = 1;
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	if (bad)
		return 1;
	qsort(lat, n, sizeof(*lat), cmp_u64);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)lat[i];
	printf("requests %zu clients %d p50_us %.1f p99_us %.1f max_us %.1f mean_us %.1f req_s %.0f\n",
	       n, clients, pct_us(lat, n, 0.5), pct_us(lat, n, 0.99),
	       (double)lat[n - 1] / 1000.0, sum / (double)n / 1000.0,
	       (double)(n + warmup * (size_t)clients) / secs);
	return 0;
}

static void read_file(const char *path, struct bytes *out)
{
	char chunk[65536];
	int fd = open(path, O_RDONLY);
	ssize_t r;
	if (fd < 0)
		die(path);
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		bytes_put(out, chunk, (size_t)r);
	if (r < 0)
		die(path);
	close(fd);
}

static int run_batch(int http, const char *where, const char *file, size_t rows,
		     size_t n)
{
	struct conn c;
	struct bytes req = { 0 }, resp = { 0 };
	read_file(file, &req);
	conn_open(&c, http, where, 0);
	roundtrip(&c, req.data, req.len, &resp);	/* warm-up */
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		roundtrip(&c, req.data, req.len, &resp);
		if (!http)
			check_csv(&resp, rows);
		else if (resp.len < 2 || resp.data[0] != '{')
			die("http batch response");
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	printf("requests %zu rows %zu mean_ms %.2f rows_s %.0f\n", n, rows,
	       secs * 1000.0 / (double)n, (double)(rows * n) / secs);
	close(c.fd);
	free(req.data);
	free(resp.data);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int http = !strncmp(mode, "http", 4);
	if ((!strcmp(mode, "file") || !strcmp(mode, "http")) && argc >= 6)
		return run_rows(http, argv[2], strtoull(argv[3], NULL, 10),
				strtoull(argv[4], NULL, 10), atoi(argv[5]),
				argc > 6 && !strcmp(argv[6], "single"));
	if ((!strcmp(mode, "file-batch") || !strcmp(mode, "http-batch")) && argc == 6)
		return run_batch(http, argv[2], argv[3], strtoull(argv[4], NULL, 10),
				 strtoull(argv[5], NULL, 10));
	fprintf(stderr, "usage: serving_client file|http PATH|HOST:PORT NKEYS REQUESTS CLIENTS [single]\n"
		"       serving_client file-batch|http-batch PATH|HOST:PORT FILE ROWS REQUESTS\n");
	return 2;
}
