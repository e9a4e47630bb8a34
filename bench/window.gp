set terminal pngcairo size 1100,660 font ",10"
set output 'bench/window.png'
set multiplot layout 2,1
set key outside right top
set grid
set xlabel 'seconds since the label PATCH (server commit)'
set ylabel 'new connections/s (100 ms bins)'
set title 'steer (steerd on both nodes), 10000 Services of iptables rules; relabeled pods in bold'
unset arrow
set arrow from 0.000, graph 0 to 0.000, graph 1 nohead dt 2 lc rgb "black"
plot 'bench/window-series-steer-10000.dat' using 1:2 with steps lw 3 title 'gfl9r (relabeled)', 'bench/window-series-steer-10000.dat' using 1:3 with steps lw 1 title 'fxc6p', 'bench/window-series-steer-10000.dat' using 1:4 with steps lw 1 title 'g7d8p', 'bench/window-series-steer-10000.dat' using 1:5 with steps lw 1 title 'hhnfs', 'bench/window-series-steer-10000.dat' using 1:6 with steps lw 1 title 'ln8vb', 'bench/window-series-steer-10000.dat' using 1:7 with steps lw 1 dt 3 lc rgb "red" title 'errors'
set title 'kube-proxy emulation alone (min-sync-period 1 s), 10000 Services of iptables rules; relabeled pods in bold'
unset arrow
set arrow from 0.000, graph 0 to 0.000, graph 1 nohead dt 2 lc rgb "black"
plot 'bench/window-series-kube-proxy-10000.dat' using 1:2 with steps lw 3 title '28f59 (relabeled)', 'bench/window-series-kube-proxy-10000.dat' using 1:3 with steps lw 1 title 'g7d8p', 'bench/window-series-kube-proxy-10000.dat' using 1:4 with steps lw 1 title 'gfl9r', 'bench/window-series-kube-proxy-10000.dat' using 1:5 with steps lw 1 title 'jvqcj', 'bench/window-series-kube-proxy-10000.dat' using 1:6 with steps lw 1 title 'ln8vb', 'bench/window-series-kube-proxy-10000.dat' using 1:7 with steps lw 1 title 'pbnwd', 'bench/window-series-kube-proxy-10000.dat' using 1:8 with steps lw 1 title 'pwmff', 'bench/window-series-kube-proxy-10000.dat' using 1:9 with steps lw 1 title 'qtfrz', 'bench/window-series-kube-proxy-10000.dat' using 1:10 with steps lw 1 title 't5csh', 'bench/window-series-kube-proxy-10000.dat' using 1:11 with steps lw 1 dt 3 lc rgb "red" title 'errors'
unset multiplot
