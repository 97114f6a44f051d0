# bench/plots.gp: the two plots of bench/run (Debian's gnuplot, pngcairo), from the data bench/report.py writes.
# usage: gnuplot -e "data='DIR'; out='DIR'; servers='rowcast node flask tornado'; labels='rowcast|Node ws|...'; sweep_rate=20; date='...'" bench/plots.gp

set terminal pngcairo size 1100,480 font "DejaVu Sans,10"
set grid
set key bottom right

# 1. Delay distribution, polling against push (rowcast), at 1 and 50 changes/s
set output out.'/polling-vs-push.png'
set multiplot layout 1,2 title "rowcast: delay from the insert to the client, polling against push (".date.")"
set logscale x
set xlabel "delay, ms (log scale)"
set ylabel "share of changes delivered within"
set yrange [0:1.02]
set xrange [0.1:2000]
modes = "push long short-250ms short-1000ms"
names = "push (WebSocket)|long polling (wait=25)|short polling every 250 ms|short polling every 1 s"
name(i) = system(sprintf("echo '%s' | cut -d'|' -f%d", names, i))
do for [ph in "r1 r50"] {
	set title (ph eq "r1" ? "1 change/s" : "50 changes/s")
	plot for [i=1:4] sprintf("%s/cdf-%s-%s.dat", data, ph, word(modes, i)) using 1:2 with lines lw 2 title name(i)
}
unset multiplot

# 2. p99 latency against subscribers, every server
set output out.'/p99-vs-subscribers.png'
set terminal pngcairo size 800,520 font "DejaVu Sans,10"
set title sprintf("push p99 latency against subscribers, %d inserts/s (%s)", sweep_rate, date)
set logscale xy
set xrange [0.7:1500]
set yrange [*:*]
set xlabel "subscribers (log scale)"
set ylabel "p99 latency, ms (log scale)"
set key top left
label(i) = system(sprintf("echo '%s' | cut -d'|' -f%d", labels, i))
plot for [i=1:words(servers)] sprintf("%s/p99-%s.dat", data, word(servers, i)) using 1:2 with linespoints lw 2 pt 7 title label(i)
