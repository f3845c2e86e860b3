// The operator's day chart with Apache ECharts (vendored, served from /assets/): the day's settled
// money per hospital, stacked by source. The numbers come from the page's JSON island in fen; the
// SVG bars stay in the page for readers without JavaScript and are hidden once the chart draws.
(function () {
  'use strict';
  // 12345678 -> "¥123,456.78", as every amount on the pages (the server's money::yuan).
  function yuan(fen) {
    var sign = fen < 0 ? '-' : '';
    var f = Math.abs(fen);
    var cents = String(f % 100);
    var whole = String(Math.floor(f / 100)).replace(/\B(?=(\d{3})+$)/g, ',');
    return sign + '\u00a5' + whole + '.' + (cents.length < 2 ? '0' + cents : cents);
  }
  // An axis tick: whole yuan without the ".00" (ECharts picks round ticks), so it stays short.
  function tick(fen) {
    var said = yuan(Math.round(fen));
    return /\.00$/.test(said) ? said.slice(0, -3) : said;
  }
  function draw() {
    var island = document.getElementById('day-chart-data');
    var box = document.getElementById('day-chart');
    if (!island || !box || typeof echarts === 'undefined') return;
    var data = JSON.parse(island.textContent);
    if (!data.hospitals.length) return;
    var elder = document.documentElement.classList.contains('elder');
    var size = elder ? 18 : 12;
    box.style.height = Math.max(160, 60 + data.hospitals.length * (elder ? 56 : 36)) + 'px';
    // Shown before ECharts measures it: a hidden box is 0 px wide, and the chart would draw
    // squashed into ECharts' 100-px default.
    box.hidden = false;
    var chart = echarts.init(box, null, { renderer: 'canvas' });
    // A phone's box: fewer axis ticks, the legend on two lines, long hospital names wrapped.
    var narrow = box.clientWidth < 560;
    chart.setOption({
      aria: { enabled: true, label: { description: data.title } },
      animation: false,
      textStyle: { fontSize: size },
      color: ['#1f6feb', '#2e8540', '#b35900', '#b3261e'],
      legend: { top: 0, textStyle: { fontSize: size } },
      tooltip: {
        trigger: 'axis',
        axisPointer: { type: 'shadow' },
        valueFormatter: function (v) { return yuan(v); }
      },
      grid: { left: 8, right: 16, top: (elder ? 64 : 40) + (narrow ? 28 : 0), bottom: 8, containLabel: true },
      // The first and last tick labels end at the plot's edges instead of centring on them: the
      // last one was cut off at the right of a phone's box.
      xAxis: {
        type: 'value', splitNumber: narrow ? 2 : 5,
        axisLabel: { fontSize: size, hideOverlap: true, alignMinLabel: 'left', alignMaxLabel: 'right', formatter: tick }
      },
      yAxis: { type: 'category', inverse: true, data: data.hospitals, axisLabel: { fontSize: size, width: narrow ? 96 : 220, overflow: 'break' } },
      series: data.series.map(function (s) {
        return { name: s.name, type: 'bar', stack: 'money', data: s.fen, barMaxWidth: elder ? 40 : 24 };
      })
    });
    var svg = document.getElementById('chart');
    if (svg) svg.classList.add('replaced');
    window.addEventListener('resize', function () { chart.resize(); });
  }
  // The console was one long page with anchors; each section is a page of its own now, and an
  // old link (/ops/#keys-title) leads to it.
  var moved = {
    'exceptions-title': 'exceptions', 'visits-title': 'visits', 'hospitals-title': 'hospitals',
    'platforms-title': 'hospitals', 'banks-title': 'banks', 'hb-title': 'banks', 'patients-title': 'patients',
    'staff-title': 'staff', 'audit-title': 'audit', 'keys-title': 'keys'
  };
  var anchor = window.location.hash.slice(1);
  if (moved[anchor] && !document.getElementById(anchor)) {
    window.location.replace('/ops/' + moved[anchor] + window.location.search + '#' + anchor);
    return;
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', draw);
  else draw();
})();
