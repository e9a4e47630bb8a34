set terminal pngcairo size 1100,660 font ",10"
set output 'bench/window.png'
set multiplot layout 2,1
set key outside right top
set grid
set xlabel 'seconds since the label PATCH'
set ylabel 'new connections/s (100 ms bins)'
set title 'steer (steerd on both nodes), 10000 extra Services; relabeled pods in bold'
unset arrow
set arrow from 0.000, graph 0 to 0.000, graph 1 nohead dt 2 lc rgb "black"
plot 'bench/window-series-steer-10000.dat' using 1:2 with steps lw 3 title 'kvcqh (relabeled)', 'bench/window-series-steer-10000.dat' using 1:3 with steps lw 1 title '6n8pg', 'bench/window-series-steer-10000.dat' using 1:4 with steps lw 1 title '98vg6', 'bench/window-series-steer-10000.dat' using 1:5 with steps lw 1 title 'v2lmb', 'bench/window-series-steer-10000.dat' using 1:6 with steps lw 1 dt 3 lc rgb "red" title 'errors'
set title 'kube-proxy alone (min-sync-period 1 s), 10000 extra Services; relabeled pods in bold'
unset arrow
set arrow from 0.000, graph 0 to 0.000, graph 1 nohead dt 2 lc rgb "black"
plot 'bench/window-series-kube-proxy-10000.dat' using 1:2 with steps lw 3 title 'v2lmb (relabeled)', 'bench/window-series-kube-proxy-10000.dat' using 1:3 with steps lw 1 title '98vg6', 'bench/window-series-kube-proxy-10000.dat' using 1:4 with steps lw 1 title 'kvcqh', 'bench/window-series-kube-proxy-10000.dat' using 1:5 with steps lw 1 dt 3 lc rgb "red" title 'errors'
unset multiplot
