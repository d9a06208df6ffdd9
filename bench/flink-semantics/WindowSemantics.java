import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.eventtime.*;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.ReduceFunction;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.*;
import org.apache.flink.streaming.api.windowing.evictors.TimeEvictor;
import org.apache.flink.streaming.api.windowing.triggers.ContinuousEventTimeTrigger;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * The programs of Strom's tests/windows.rs on Apache Flink, to check that Strom's expected
 * outputs are Flink's. Key "!" is a punctuation: a watermark at its timestamp.
 * Run: bench/flink-semantics/run.sh
 */
public class WindowSemantics {
    static Tuple3<String, Long, Long> ev(String k, long t, long v) { return Tuple3.of(k, t, v); }
    static Tuple3<String, Long, Long> wm(long t) { return ev("!", t, 0); }

    static DataStream<Tuple3<String, Long, Long>> events(StreamExecutionEnvironment env, List<Tuple3<String, Long, Long>> input) {
        WatermarkStrategy<Tuple3<String, Long, Long>> strategy = WatermarkStrategy
            .<Tuple3<String, Long, Long>>forGenerator(ctx -> new WatermarkGenerator<Tuple3<String, Long, Long>>() {
                public void onEvent(Tuple3<String, Long, Long> e, long ts, WatermarkOutput out) {
                    if (e.f0.equals("!")) out.emitWatermark(new Watermark(ts));
                }
                public void onPeriodicEmit(WatermarkOutput out) {}
            })
            .withTimestampAssigner((e, t) -> e.f1);
        return env.fromData(input).assignTimestampsAndWatermarks(strategy).filter(e -> !e.f0.equals("!"));
    }

    static StreamExecutionEnvironment env() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        return env;
    }

    static final ReduceFunction<Tuple3<String, Long, Long>> SUM = (a, b) -> Tuple3.of(a.f0, a.f1, a.f2 + b.f2);

    static class Describe extends ProcessWindowFunction<Tuple3<String, Long, Long>, String, String, TimeWindow> {
        public void process(String key, Context ctx, Iterable<Tuple3<String, Long, Long>> elements, Collector<String> out) {
            long n = 0, sum = 0;
            for (Tuple3<String, Long, Long> e : elements) { n++; sum += e.f2; }
            out.collect(key + " [" + ctx.window().getStart() + "," + ctx.window().getEnd() + ") n=" + n + " sum=" + sum);
        }
    }

    static class Average implements AggregateFunction<Tuple3<String, Long, Long>, long[], Double> {
        public long[] createAccumulator() { return new long[2]; }
        public long[] add(Tuple3<String, Long, Long> v, long[] a) { a[0] += v.f2; a[1]++; return a; }
        public Double getResult(long[] a) { return (double) a[0] / a[1]; }
        public long[] merge(long[] a, long[] b) { return new long[] {a[0] + b[0], a[1] + b[1]}; }
    }

    static class Label extends ProcessWindowFunction<Double, String, String, TimeWindow> {
        public void process(String key, Context ctx, Iterable<Double> elements, Collector<String> out) {
            for (Double d : elements) out.collect(key + "@" + ctx.window().getEnd() + "=" + d);
        }
    }

    /** Firings per window (window state) and per key (global state), windows cleared per key. */
    static class CountFirings extends ProcessWindowFunction<Tuple3<String, Long, Long>, String, String, TimeWindow> {
        static final ValueStateDescriptor<Long> FIRINGS = new ValueStateDescriptor<>("firings", Long.class);
        static final ValueStateDescriptor<Long> KEY_FIRINGS = new ValueStateDescriptor<>("key-firings", Long.class);
        static final ValueStateDescriptor<Long> CLEARED = new ValueStateDescriptor<>("cleared", Long.class);
        static long bump(ValueState<Long> state) throws Exception {
            long n = (state.value() == null ? 0 : state.value()) + 1;
            state.update(n);
            return n;
        }
        public void process(String key, Context ctx, Iterable<Tuple3<String, Long, Long>> elements, Collector<String> out) throws Exception {
            long firing = bump(ctx.windowState().getState(FIRINGS));
            long keyFirings = bump(ctx.globalState().getState(KEY_FIRINGS));
            Long cleared = ctx.globalState().getState(CLEARED).value();
            long sum = 0;
            for (Tuple3<String, Long, Long> e : elements) sum += e.f2;
            out.collect(key + " [" + ctx.window().getStart() + "," + ctx.window().getEnd() + ") sum=" + sum
                + " firing=" + firing + " key_firings=" + keyFirings + " cleared=" + (cleared == null ? 0 : cleared));
        }
        public void clear(Context ctx) throws Exception {
            ctx.windowState().getState(FIRINGS).clear();
            bump(ctx.globalState().getState(CLEARED));
        }
    }

    static List<Tuple3<String, Long, Long>> list(Tuple3<String, Long, Long>... es) { return new ArrayList<>(List.of(es)); }

    static void run(String name, StreamExecutionEnvironment env) throws Exception {
        System.out.println("== " + name);
        env.execute(name);
    }

    public static void main(String[] args) throws Exception {
        StreamExecutionEnvironment env = env();
        OutputTag<Tuple3<String, Long, Long>> late = new OutputTag<Tuple3<String, Long, Long>>("late") {};
        SingleOutputStreamOperator<Tuple3<String, Long, Long>> sums = events(env, list(
                ev("a", 1, 1), ev("b", 3, 1), ev("a", 12, 1), wm(10), ev("a", 5, 1), wm(15),
                ev("a", 7, 1), ev("b", 14, 1), wm(30)))
            .keyBy(e -> e.f0).window(TumblingEventTimeWindows.of(Duration.ofMillis(10)))
            .allowedLateness(Duration.ofMillis(5)).sideOutputLateData(late).reduce(SUM);
        sums.map(x -> "main " + x).print();
        sums.getSideOutput(late).map(x -> "late " + x).print();
        run("tumbling", env);

        env = env();
        events(env, list(ev("a", 1, 1), ev("a", 6, 2), ev("b", 7, 4), ev("a", 11, 8)))
            .keyBy(e -> e.f0).window(SlidingEventTimeWindows.of(Duration.ofMillis(10), Duration.ofMillis(5)))
            .process(new Describe()).print();
        run("sliding", env);

        env = env();
        events(env, list(ev("a", 1, 1), ev("a", 3, 1), ev("a", 10, 1), ev("a", 12, 1), ev("b", 2, 1),
                ev("a", 4, 1), wm(7), ev("a", 6, 1), ev("b", 30, 1), wm(40)))
            .keyBy(e -> e.f0).window(EventTimeSessionWindows.withGap(Duration.ofMillis(5)))
            .process(new Describe()).print();
        run("sessions", env);

        env = env();
        events(env, list(ev("a", 0, 1), ev("a", 2, 10), ev("a", 11, 1)))
            .keyBy(e -> e.f0)
            .window(EventTimeSessionWindows.withDynamicGap(e -> e.f2))
            .process(new Describe()).print();
        run("dynamic sessions", env);

        env = env();
        events(env, list(ev("a", 1, 1), ev("a", 2, 2), ev("a", 3, 3), ev("a", 4, 4), ev("a", 5, 5), ev("b", 1, 100)))
            .keyBy(e -> e.f0).countWindow(2).reduce(SUM).print();
        run("count", env);

        env = env();
        events(env, list(ev("a", 1, 1), ev("a", 2, 2), ev("a", 3, 3), ev("a", 4, 4), ev("a", 5, 5), ev("a", 6, 6)))
            .keyBy(e -> e.f0).countWindow(3, 2).reduce(SUM).print();
        run("count with slide", env);

        env = env();
        events(env, list(ev("a", 1, 2), ev("a", 8, 4), ev("a", 4, 9), ev("b", 1, 5)))
            .keyBy(e -> e.f0).window(EventTimeSessionWindows.withGap(Duration.ofMillis(4)))
            .aggregate(new Average(), new Label()).print();
        run("aggregate and process", env);

        env = env();
        events(env, list(ev("a", 1, 1), ev("a", 2, 10), ev("a", 5, 100), ev("a", 9, 1000)))
            .keyBy(e -> e.f0).window(TumblingEventTimeWindows.of(Duration.ofMillis(10)))
            .evictor(TimeEvictor.of(Duration.ofMillis(5))).reduce(SUM).print();
        run("evictor", env);

        env = env();
        events(env, list(ev("a", 1, 1), ev("a", 3, 2), wm(5), ev("a", 6, 4), wm(12), ev("a", 14, 8), wm(25)))
            .keyBy(e -> e.f0).window(TumblingEventTimeWindows.of(Duration.ofMillis(20)))
            .trigger(ContinuousEventTimeTrigger.of(Duration.ofMillis(5))).reduce(SUM).print();
        run("continuous", env);

        env = env();
        events(env, list(ev("a", 1, 1), ev("b", 2, 5), ev("a", 3, 2), wm(10), ev("a", 5, 4), ev("a", 12, 8), wm(15), wm(25)))
            .keyBy(e -> e.f0).window(TumblingEventTimeWindows.of(Duration.ofMillis(10)))
            .allowedLateness(Duration.ofMillis(5)).process(new CountFirings()).print();
        run("window and global state", env);

        env = env();
        events(env, list(ev("a", 1, 1), ev("b", 2, 2), ev("c", 12, 4)))
            .windowAll(TumblingEventTimeWindows.of(Duration.ofMillis(10))).reduce(SUM).print();
        run("window all", env);
    }
}
