// LbBench: a closed-loop JDBC load generator for scripts/compare.sh.
//
// Why it exists: to compare mysql_lb with a JDBC driver's own load balancing (MariaDB
// Connector/J `loadbalance`) under the same faults, we need a JDBC client that does what
// `mysql-lb bench` does and writes the same samples file.
//
// Usage:
//   LB_PASSWORD=... java -cp mariadb-java-client.jar:DIR LbBench \
//       --url JDBC_URL --user USER --threads N --duration SECONDS --sql SQL --samples FILE
//
// The password is read from the environment (LB_PASSWORD), not from the command line, so it
// does not show in `ps`. Each of the N threads holds one connection and runs SQL in a loop
// until the duration is over. The first column of the first row is taken as the port of the
// server that answered (run `SELECT @@port`), so the samples name the host as 127.0.0.1:PORT.
//
// Errors: an SQLException counts as a failed statement; if the connection is then closed or
// not valid (isValid, 1 s), the thread drops it. A thread without a connection tries to get
// one at the start of its next statement; a failed attempt is recorded as a failed statement
// too (the application could not run it), so a client that cannot connect shows errors, not
// silence. After 3 failed attempts in a row the thread waits 100 ms before the next one, so a
// fully down cluster does not make it spin. Every loop ends at the deadline; every network
// step is bounded by the URL's connectTimeout and socketTimeout.
//
// On start it prints `lbbench: t0_epoch_ms=N` on stderr: the wall-clock instant that t_ms
// counts from, so scripts/compare.sh can time its faults from it, not from the JVM launch.
//
// Samples CSV (the format of `mysql-lb bench --samples`): header `t_ms,latency_us,ok,host`,
// one line per statement: start in ms since the bench started, latency in microseconds,
// 1 or 0, and `host:port` (empty on error). Lines are sorted by start time.

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

public final class LbBench {
    /** One statement's outcome. */
    private record Sample(long startNanos, long latencyNanos, boolean ok, String host) {}

    private static final int CONNECT_FAILURES_BEFORE_PAUSE = 3;
    private static final long CONNECT_PAUSE_MS = 100;
    /** How long after the deadline the main thread waits for workers (bounded statements). */
    private static final long JOIN_GRACE_MS = 15_000;

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = parseArgs(argv);
        String url = required(args, "url");
        String user = required(args, "user");
        String sql = args.getOrDefault("sql", "SELECT @@port");
        String samplesPath = required(args, "samples");
        int threads = positiveInt(args.getOrDefault("threads", "8"), "--threads");
        int seconds = positiveInt(args.getOrDefault("duration", "20"), "--duration");
        String password = System.getenv().getOrDefault("LB_PASSWORD", "");

        Properties props = new Properties();
        props.setProperty("user", user);
        props.setProperty("password", password);

        long t0 = System.nanoTime();
        // The script schedules its faults from this instant, not from the JVM's launch.
        System.err.println("lbbench: t0_epoch_ms=" + System.currentTimeMillis());
        long deadline = t0 + seconds * 1_000_000_000L;
        List<List<Sample>> perThread = new ArrayList<>();
        List<Thread> workers = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            List<Sample> samples = new ArrayList<>();
            perThread.add(samples);
            Thread t = new Thread(() -> work(url, props, sql, deadline, samples), "lbbench-" + i);
            // Daemon: a worker stuck past every bound must not keep the JVM alive.
            t.setDaemon(true);
            workers.add(t);
            t.start();
        }
        long joinUntil = deadline / 1_000_000 + JOIN_GRACE_MS;
        int stuck = 0;
        for (Thread t : workers) {
            long left = joinUntil - System.nanoTime() / 1_000_000;
            if (left > 0) {
                t.join(left);
            }
            if (t.isAlive()) {
                stuck++;
            }
        }
        List<Sample> all = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            // A stuck worker may still append: copy under its lock.
            List<Sample> samples = perThread.get(i);
            synchronized (samples) {
                all.addAll(samples);
            }
        }
        all.sort(Comparator.comparingLong(Sample::startNanos));
        long errors = all.stream().filter(s -> !s.ok()).count();
        try (BufferedWriter w = Files.newBufferedWriter(Paths.get(samplesPath), StandardCharsets.UTF_8)) {
            w.write("t_ms,latency_us,ok,host\n");
            for (Sample s : all) {
                w.write((s.startNanos() - t0) / 1_000_000 + "," + s.latencyNanos() / 1_000 + ","
                        + (s.ok() ? 1 : 0) + "," + (s.host() == null ? "" : s.host()) + "\n");
            }
        }
        System.err.printf("lbbench: %d statements, %d errors, %d threads stuck past the deadline%n",
                all.size(), errors, stuck);
        // Daemon threads of stuck workers end with the JVM.
        System.exit(stuck == 0 ? 0 : 1);
    }

    /** One worker: one connection, the statement in a loop until the deadline. */
    private static void work(String url, Properties props, String sql, long deadline, List<Sample> samples) {
        Connection conn = null;
        int connectFailures = 0;
        while (System.nanoTime() < deadline) {
            if (conn == null && connectFailures >= CONNECT_FAILURES_BEFORE_PAUSE) {
                sleepMs(CONNECT_PAUSE_MS);
                connectFailures = 0;
            }
            long start = System.nanoTime();
            String host = null;
            boolean ok;
            try {
                if (conn == null) {
                    conn = DriverManager.getConnection(url, props);
                }
                connectFailures = 0;
                try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
                    if (rs.next()) {
                        host = "127.0.0.1:" + rs.getString(1);
                    }
                }
                ok = true;
            } catch (SQLException e) {
                ok = false;
                host = null;
                if (conn == null) {
                    connectFailures++;
                } else if (!usable(conn)) {
                    closeQuietly(conn);
                    conn = null;
                }
            }
            long latency = System.nanoTime() - start;
            synchronized (samples) {
                samples.add(new Sample(start, latency, ok, host));
            }
        }
        if (conn != null) {
            closeQuietly(conn);
        }
    }

    /** Whether the connection can take another statement (bounded by isValid's 1 s). */
    private static boolean usable(Connection conn) {
        try {
            return !conn.isClosed() && conn.isValid(1);
        } catch (SQLException e) {
            return false;
        }
    }

    private static void closeQuietly(Connection conn) {
        try {
            conn.close();
        } catch (SQLException ignored) {
            // The connection is being dropped because it is broken.
        }
    }

    private static void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static Map<String, String> parseArgs(String[] argv) {
        Map<String, String> args = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (!a.startsWith("--") || i + 1 >= argv.length) {
                usage("bad argument `" + a + "`");
            }
            args.put(a.substring(2), argv[++i]);
        }
        for (String key : args.keySet()) {
            if (!List.of("url", "user", "sql", "samples", "threads", "duration").contains(key)) {
                usage("unknown option `--" + key + "`");
            }
        }
        return args;
    }

    private static String required(Map<String, String> args, String key) {
        String v = args.get(key);
        if (v == null || v.isEmpty()) {
            usage("missing --" + key);
        }
        return v;
    }

    private static int positiveInt(String text, String what) {
        try {
            int n = Integer.parseInt(text);
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // Reported below.
        }
        usage(what + " `" + text + "` is not a positive integer");
        return 0;
    }

    private static void usage(String problem) {
        System.err.println("lbbench: " + problem + "\nusage: LB_PASSWORD=... java LbBench --url JDBC_URL"
                + " --user USER --samples FILE [--threads N] [--duration SECONDS] [--sql SQL]");
        System.exit(2);
    }
}
