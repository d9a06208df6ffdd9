import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * The job of `strom-bench checkpoint` on Apache Flink: running counts over KEYS keys of events made
 * from a sequence (key splitmix64(i) mod KEYS), with a checkpoint every INTERVAL_MS (0: none), on the
 * default hashmap state backend, checkpoints written to files. The checkpoint coordinator's log lines
 * (each completed checkpoint with its size and duration) are printed too (see log4j2.properties).
 * Run: bench/flink-semantics/run.sh CheckpointCost EVENTS KEYS PARALLELISM INTERVAL_MS
 */
public class CheckpointCost {
    static long splitmix64(long x) {
        long z = x + 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    public static void main(String[] args) throws Exception {
        long events = Long.parseLong(args[0]);
        long keys = Long.parseLong(args[1]);
        int parallelism = Integer.parseInt(args[2]);
        long interval = Long.parseLong(args[3]);
        Configuration conf = new Configuration();
        if (interval > 0) {
            // The default storage (the JobManager's memory) refuses state over 5 MB: checkpoints
            // go to files, as Strom's do with --checkpoint-dir.
            conf.setString("execution.checkpointing.storage", "filesystem");
            conf.setString("execution.checkpointing.dir",
                "file://" + System.getProperty("java.io.tmpdir") + "/flink-checkpoint-cost");
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(parallelism);
        if (interval > 0) env.enableCheckpointing(interval);
        env.fromSequence(0, events - 1)
            .map(i -> Tuple2.of(Long.remainderUnsigned(splitmix64(i), keys), 1L))
            .returns(org.apache.flink.api.common.typeinfo.Types.TUPLE(
                org.apache.flink.api.common.typeinfo.Types.LONG, org.apache.flink.api.common.typeinfo.Types.LONG))
            .keyBy(t -> t.f0)
            .sum(1)
            .sinkTo(new DiscardingSink<>());
        long start = System.nanoTime();
        env.execute("CheckpointCost");
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("flink checkpoint parallelism=%d events=%d keys=%d interval_ms=%d seconds=%.3f events_per_s=%.0f%n",
            parallelism, events, keys, interval, seconds, events / seconds);
    }
}
