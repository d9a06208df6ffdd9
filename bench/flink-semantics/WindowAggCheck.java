import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;

/**
 * The anchor's WindowAgg job (../../../shared/anchors/flink/WindowAgg.java) with its window
 * results collected as sorted "key,end,count,max" lines, to compare with
 * `strom-bench windowagg --check`. Args: EVENTS PARALLELISM.
 */
public class WindowAggCheck {
    static long splitmix64(long x) {
        long z = x + 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static class KeyAndWindow extends ProcessWindowFunction<String, String, Long, TimeWindow> {
        public void process(Long key, Context ctx, Iterable<String> results, Collector<String> out) {
            for (String r : results) out.collect(key + "," + ctx.window().getEnd() + "," + r);
        }
    }

    public static void main(String[] args) throws Exception {
        long events = Long.parseLong(args[0]);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(Integer.parseInt(args[1]));
        List<String> lines = new ArrayList<>();
        try (CloseableIterator<String> it = env.fromSequence(0, events - 1)
            .map(i -> {
                long h = splitmix64(i);
                return Tuple3.of(Long.remainderUnsigned(h, 10000), i / 10 + 1000 - Long.remainderUnsigned(h >>> 32, 1000),
                    Long.remainderUnsigned(splitmix64(h), 1000000));
            })
            .returns(org.apache.flink.api.common.typeinfo.Types.TUPLE(
                org.apache.flink.api.common.typeinfo.Types.LONG, org.apache.flink.api.common.typeinfo.Types.LONG,
                org.apache.flink.api.common.typeinfo.Types.LONG))
            .assignTimestampsAndWatermarks(WatermarkStrategy.<Tuple3<Long, Long, Long>>forBoundedOutOfOrderness(Duration.ofSeconds(1))
                .withTimestampAssigner((e, t) -> e.f1))
            .keyBy(e -> e.f0)
            .window(TumblingEventTimeWindows.of(Duration.ofSeconds(10)))
            .aggregate(new WindowAgg.CountMax(), new KeyAndWindow())
            .executeAndCollect()) {
            it.forEachRemaining(lines::add);
        }
        Collections.sort(lines);
        for (String line : lines) System.out.println(line);
    }
}
