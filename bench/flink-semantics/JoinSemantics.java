import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.streaming.api.functions.co.ProcessJoinFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessAllWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.util.Collector;

/**
 * The join programs of Strom's tests/joins.rs on Apache Flink, to check that Strom's expected
 * outputs are Flink's (compare sorted: Flink's order depends on how the inputs interleave).
 * Key "!" is a punctuation: a watermark at its timestamp.
 * Run: bench/flink-semantics/run.sh JoinSemantics
 */
public class JoinSemantics {
    // Events and punctuated watermarks as in WindowSemantics.
    static Tuple3<String, Long, Long> ev(String k, long t, long v) { return WindowSemantics.ev(k, t, v); }
    static Tuple3<String, Long, Long> wm(long t) { return WindowSemantics.wm(t); }
    static DataStream<Tuple3<String, Long, Long>> events(StreamExecutionEnvironment env, List<Tuple3<String, Long, Long>> input) {
        return WindowSemantics.events(env, input);
    }

    static List<Tuple3<String, Long, Long>> left() {
        return new ArrayList<>(List.of(ev("a", 1, 1), ev("b", 2, 2), ev("a", 6, 3), wm(5), ev("a", 11, 4),
            ev("c", 13, 5), wm(14), ev("a", 25, 6), wm(30)));
    }

    static List<Tuple3<String, Long, Long>> right() {
        return new ArrayList<>(List.of(ev("a", 0, 10), ev("a", 3, 20), ev("b", 8, 30), wm(9), ev("a", 12, 40),
            ev("c", 19, 50), ev("a", 21, 60), wm(30)));
    }

    static StreamExecutionEnvironment env(int parallelism) {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(parallelism);
        return env;
    }

    static void run(String name, StreamExecutionEnvironment env) throws Exception {
        System.out.println("== " + name);
        env.execute(name);
    }

    static class NamePair extends ProcessJoinFunction<Tuple3<String, Long, Long>, Tuple3<String, Long, Long>, String> {
        public void processElement(Tuple3<String, Long, Long> l, Tuple3<String, Long, Long> r, Context ctx, Collector<String> out) {
            out.collect(l.f0 + ":" + l.f2 + "+" + r.f2 + "@" + ctx.getTimestamp());
        }
    }

    static class CountAll extends ProcessAllWindowFunction<String, String, TimeWindow> {
        public void process(Context ctx, Iterable<String> elements, Collector<String> out) {
            long n = 0;
            for (String s : elements) n++;
            out.collect("window [" + ctx.window().getStart() + "," + ctx.window().getEnd() + ") " + n);
        }
    }

    static class MatchPayments extends KeyedCoProcessFunction<String, Tuple3<String, Long, Long>, Tuple3<String, Long, Long>, String> {
        ValueState<Tuple3<String, Long, Long>> order, payment;
        public void open(OpenContext ctx) {
            order = getRuntimeContext().getState(new ValueStateDescriptor<>("order", Types.TUPLE(Types.STRING, Types.LONG, Types.LONG)));
            payment = getRuntimeContext().getState(new ValueStateDescriptor<>("payment", Types.TUPLE(Types.STRING, Types.LONG, Types.LONG)));
        }
        public void processElement1(Tuple3<String, Long, Long> o, Context ctx, Collector<String> out) throws Exception {
            if (payment.value() != null) { out.collect(o.f0 + " paid " + payment.value().f2); payment.clear(); order.clear(); }
            else { order.update(o); ctx.timerService().registerEventTimeTimer(o.f1 + 10); }
        }
        public void processElement2(Tuple3<String, Long, Long> p, Context ctx, Collector<String> out) throws Exception {
            if (order.value() != null) { out.collect(order.value().f0 + " paid " + p.f2); payment.clear(); order.clear(); }
            else { payment.update(p); ctx.timerService().registerEventTimeTimer(p.f1 + 10); }
        }
        public void onTimer(long ts, OnTimerContext ctx, Collector<String> out) throws Exception {
            if (order.value() != null && order.value().f1 + 10 == ts) out.collect(ctx.getCurrentKey() + " unpaid at " + ts);
            if (payment.value() != null && payment.value().f1 + 10 == ts) out.collect(ctx.getCurrentKey() + " payment without order at " + ts);
            order.clear(); payment.clear();
        }
    }

    public static void main(String[] args) throws Exception {
        StreamExecutionEnvironment env = env(2);
        DataStream<String> joined = events(env, left()).keyBy(e -> e.f0)
            .intervalJoin(events(env, right()).keyBy(e -> e.f0))
            .between(Duration.ofMillis(-2), Duration.ofMillis(6))
            .process(new NamePair());
        joined.print();
        joined.windowAll(TumblingEventTimeWindows.of(Duration.ofMillis(10))).process(new CountAll()).print();
        run("interval join", env);

        env = env(1);
        events(env, left()).keyBy(e -> e.f0)
            .intervalJoin(events(env, right()).keyBy(e -> e.f0))
            .between(Duration.ofMillis(-1), Duration.ofMillis(1)).lowerBoundExclusive().upperBoundExclusive()
            .process(new NamePair()).print();
        run("interval join, exclusive bounds", env);

        env = env(2);
        events(env, left()).join(events(env, right())).where(e -> e.f0).equalTo(e -> e.f0)
            .window(TumblingEventTimeWindows.of(Duration.ofMillis(10)))
            .apply((l, r) -> l.f0 + ":" + l.f2 + "+" + r.f2, Types.STRING).print();
        run("window join", env);

        env = env(2);
        events(env, left()).coGroup(events(env, right())).where(e -> e.f0).equalTo(e -> e.f0)
            .window(TumblingEventTimeWindows.of(Duration.ofMillis(10)))
            .apply((Iterable<Tuple3<String, Long, Long>> l, Iterable<Tuple3<String, Long, Long>> r, Collector<String> out) -> {
                String key = null;
                List<String> lv = new ArrayList<>(), rv = new ArrayList<>();
                for (Tuple3<String, Long, Long> e : l) { key = e.f0; lv.add(String.valueOf(e.f2)); }
                for (Tuple3<String, Long, Long> e : r) { key = key == null ? e.f0 : key; rv.add(String.valueOf(e.f2)); }
                out.collect(key + " [" + String.join(",", lv) + "] [" + String.join(",", rv) + "]");
            }, Types.STRING).print();
        run("window co-group", env);

        env = env(2);
        DataStream<Tuple3<String, Long, Long>> orders = events(env, new ArrayList<>(List.of(ev("o1", 1, 0), ev("o2", 2, 0), ev("o3", 4, 0), wm(30))));
        DataStream<Tuple3<String, Long, Long>> payments = events(env, new ArrayList<>(List.of(ev("o2", 3, 20), ev("o9", 5, 90), ev("o1", 8, 10), wm(30))));
        orders.keyBy(o -> o.f0).connect(payments.keyBy(p -> p.f0)).process(new MatchPayments()).print();
        run("keyed co-process", env);
    }
}
